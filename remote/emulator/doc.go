// Package emulator owns a faithful, self-contained emulator of the File Upload
// API v2: an http.Handler that serves /api/v2/{endpoint}[/{action}] exactly as
// docs/api.md (the published API and what the service does beyond it) describes the live
// service (errors as HTTP 200 JSON with the document's messages and check
// order, one live token per account, IP lockout, upload renaming, trash in
// listings, quirky Range), plus the download host that download_url points to
// (/dl/{shortUrl}[/{name}]?download_token=...) and its HTML error page.
//
// It is written from the documents, not from any client: where the emulator is
// more forgiving than the live service, the daemon would break in the field.
// Each point docs/api.md marks [switch] is a switch in Options.
//
// # Storage
//
// Metadata lives in one bbolt file, DataDir/emulator.db; file contents live as
// immutable files under DataDir/files (one per file id; a copy is a hard link
// or a byte copy). Uploads stream to DataDir/tmp while their MD5 is computed
// and are renamed into place only when accepted. The layout:
//
//	meta      "ids"         -> {"next_file":N,"next_folder":M}
//	files     be64(fileID)  -> fileRec JSON (any account; status active|trash)
//	folders   be64(folderID)-> folderRec JSON
//	tokens    access token  -> tokenRec JSON (account, created, last used)
//	dltokens  download token-> dlTokenRec JSON (file id, expiry)
//	sessions  session id    -> sessionRec JSON (the cookie /authorize sets)
//
// Tokens, download tokens and sessions are persisted, as the live service keeps
// them in its database, so a restart with the same DataDir keeps clients
// authorized. Failed-authorization counts (IP lockout), rate limiter state,
// download counters for package limits and injected faults are in memory only:
// a restart clears them.
//
// All metadata is also held in memory behind one mutex and written through to
// bbolt on every change; content I/O happens outside the lock.
//
// # Paths
//
//	/api/v2/{endpoint}[/{action}]     the API (GET or POST; urlencoded or multipart)
//	/dl/{shortUrl}[/{name}]?download_token=T   content, with the Range quirks
//	/error?e=MESSAGE                  the HTML page refusals redirect to
//
// Anything else is a 404 with an HTML body. Refusals a proxy would send (429,
// 5xx from FailRate and injected faults) have HTML bodies too.
//
// # Test hooks
//
// InjectFault (status without effect, reply dropped after the change,
// latency), InvalidateTokens (another client authorized), Dump (the remote
// state as a sorted list with paths) and UploadsInFlight. Time comes from
// Options.Now, randomness from Options.Seed.
//
// # Choices where the documents are silent
//
//   - Package limits on downloads (EnforceLimits) are answered by the download
//     host the way the site answers them: a 302 to the HTML error page with the
//     reason, never JSON.
//   - Upload-server reasons: "maxFileSize" (too big), "You have reached the
//     maximum storage allowed for your account." (storage), "You do not have
//     permission to upload files." (can_upload=0), "Maximum concurrent
//     uploads reached, please wait for one to finish." (busy).
//   - file/copy without the account's session cookie answers "Could not find
//     file based on file_id." and creates nothing visible (the live service
//     may create an ownerless copy, which no client can see either).
//   - Storage used counts trashed files too: the API has no permanent delete.
//   - file/delete, file/move and file/copy act on active files only; file/edit,
//     file/info and file/download accept trashed files.
//   - Upload de-duplication compares names exactly (case-sensitively); a
//     file/copy keeps the original's name without de-duplication.
//   - Moving a folder onto itself answers "Failed moving the folder." from
//     folder/move and folder/edit; folder/edit ignores an unknown parent_id.
//   - Unknown endpoints answer 404 with an HTML body.
//   - An upload holds one of the account's concurrent_uploads slots from the
//     start of its file part (when account_id came before it, as clients
//     send it) until its reply.
package emulator
