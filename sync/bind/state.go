package bind

import (
	"time"

	"github.com/syncd/syncd/state"
	"github.com/syncd/syncd/sync/engine"
	"github.com/syncd/syncd/sync/plan"
)

// Store adapts *state.Store to engine.Store.
type Store struct {
	S   *state.Store
	Now func() time.Time
}

var _ engine.Store = Store{}

func toBase(e state.Entry) plan.Base {
	return plan.Base{Kind: plan.Kind(e.Kind), LocalName: e.LocalName, RemoteName: e.RemoteName,
		Size: e.Size, MtimeNs: e.MtimeNs, Dev: e.Dev, Ino: e.Ino, MD5: e.MD5,
		RemoteID: e.RemoteID, RemoteParentID: e.RemoteParentID}
}

func fromBase(path string, b plan.Base) state.Entry {
	return state.Entry{Path: path, Kind: uint8(b.Kind), LocalName: b.LocalName, RemoteName: b.RemoteName,
		Size: b.Size, MtimeNs: b.MtimeNs, Dev: b.Dev, Ino: b.Ino, MD5: b.MD5,
		RemoteID: b.RemoteID, RemoteParentID: b.RemoteParentID}
}

func (s Store) Base(pair string) (map[string]plan.Base, error) {
	var out map[string]plan.Base
	err := s.S.EachBase(pair, func(n int) { out = make(map[string]plan.Base, n) }, func(e state.Entry) { out[e.Path] = toBase(e) })
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (s Store) Meta(pair string) (engine.Meta, error) {
	m, _, err := s.S.Meta(pair)
	if err != nil {
		return engine.Meta{}, err
	}
	return engine.Meta{RemoteRootID: m.RemoteRootID, Initialised: m.Initialised, LastSync: m.LastSync,
		LastAttempt: m.LastAttempt, LastError: m.LastError, Halted: m.Halted, Pending: m.Pending}, nil
}

func (s Store) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s Store) Commit(pair string, c engine.Commit) error {
	var b state.Batch
	for _, p := range c.Delete {
		b.Delete(p)
	}
	for p, e := range c.Put {
		b.Put(fromBase(p, e))
	}
	for id, m := range c.MD5s {
		b.PutRemoteMD5(id, m)
	}
	for _, id := range c.ForgetMD5s {
		b.DeleteRemoteMD5(id)
	}
	if m := c.Meta; m != nil {
		b.EditMeta(func(old *state.Meta) {
			old.RemoteRootID, old.Initialised, old.LastSync = m.RemoteRootID, m.Initialised, m.LastSync
			old.LastAttempt, old.LastError, old.Halted, old.Pending = m.LastAttempt, m.LastError, m.Halted, m.Pending
		})
	}
	if c.Problems != nil {
		b.ClearProblems()
		for _, p := range c.Problems {
			if _, refused := c.Refused[p.Path]; refused {
				continue
			}
			b.PutProblem(p.Path, state.Problem{Side: p.Side.String(), Message: p.Message, Signature: p.Message, Since: s.now()})
		}
		for path, r := range c.Refused {
			b.PutProblem(path, state.Problem{Side: "remote", Message: r.Message, Signature: r.Signature, Since: r.Since, Refused: true})
		}
	}
	for _, seq := range c.JournalDone {
		b.JournalDone(seq)
	}
	for _, cf := range c.Conflicts {
		b.AddConflict(state.Conflict{Path: cf.Path, Copy: cf.Copy, Reason: cf.Reason, Time: s.now()})
	}
	if b.Len() == 0 {
		return nil
	}
	return s.S.Commit(pair, b)
}

func (s Store) Refused(pair string) (map[string]engine.Refusal, error) {
	ps, err := s.S.Problems(pair)
	if err != nil {
		return nil, err
	}
	out := make(map[string]engine.Refusal)
	for path, p := range ps {
		if p.Refused {
			out[path] = engine.Refusal{Signature: p.Signature, Message: p.Message, Since: p.Since}
		}
	}
	return out, nil
}

func (s Store) RemoteMD5(id string) (string, bool, error) { return s.S.RemoteMD5(id) }

func (s Store) JournalBegin(pair string, j engine.Journal) (uint64, error) {
	return s.S.Begin(pair, j.Op, j.Step, j.Data)
}

func (s Store) JournalBeginAll(pair string, js []engine.Journal) ([]uint64, error) {
	recs := make([]state.NewRecord, len(js))
	for i, j := range js {
		recs[i] = state.NewRecord{Op: j.Op, Step: j.Step, Data: j.Data}
	}
	return s.S.BeginAll(pair, recs)
}

func (s Store) JournalAdvance(seq uint64, step string, data []byte) error {
	return s.S.Advance(seq, step, data)
}

func (s Store) JournalDone(seq uint64) error { return s.S.Done(seq) }

func (s Store) JournalPending(pair string) ([]engine.Journal, error) {
	rs, err := s.S.Pending(pair)
	if err != nil {
		return nil, err
	}
	out := make([]engine.Journal, len(rs))
	for i, r := range rs {
		out[i] = engine.Journal{Seq: r.Seq, Op: r.Op, Step: r.Step, Data: r.Data}
	}
	return out, nil
}
