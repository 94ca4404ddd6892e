// Package remote owns everything that speaks the File Upload API v2: the
// wire types, the tolerant decoding the live service requires, error
// classification, the shared access token, retries, rate limiting, and
// streaming upload and download. Its sub-package emulator serves the same API
// for tests, benchmarks and the demo.
//
// # Contract
//
// Every method of Client takes a context and stops when it is done. Errors
// are classified with the sentinels below and inspected with errors.Is:
//
//   - ErrBadKeys, ErrNoAPIAccess: permanent. Never retried: five failed
//     authorizations lock the client's IP out for a day. Within a process
//     the refusal is sticky (Client.Refused); across processes a
//     Config.AuthGuard, consulted around every /authorize, remembers it.
//   - ErrTokenInvalid: the shared token was invalidated (by another client
//     of the same account, or idle expiry). The client re-authorizes once
//     by itself; callers see it only when that also fails.
//   - ErrNotFound: the file or folder id does not exist (or is not the
//     account's). Safe to act on: the object is gone.
//   - ErrRateLimited: HTTP 429 (or 403 from a proxy). Retried after
//     Retry-After; callers see it only when retries are exhausted.
//   - ErrTransient: 5xx, connection resets, timeouts. Retried with jittered
//     exponential backoff for idempotent requests. A non-idempotent request
//     (upload, create, copy) whose reply was lost is resolved by listing,
//     never by blindly repeating it.
//   - ErrValidation: the server refused a parameter (empty file, too large,
//     missing parameter). Permanent for that input.
//
// Every error returned is an *APIError or wraps one where the server said
// something; its message is the server's, and never contains keys, access
// tokens or download tokens.
//
// Ids: the service returns ids as JSON strings or numbers; both decode to ID.
// The account's root folder is Root (""), sent as "null" where the API needs
// an explicit root.
package remote
