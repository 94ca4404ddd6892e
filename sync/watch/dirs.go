package watch

// fileID identifies a directory across renames (device and inode).
type fileID struct{ dev, ino uint64 }

// dirSet is the set of watched directories (relative slash paths) with
// their identities and a child index, so that dropping a removed or
// moved-away tree costs its own size, not the size of the whole set (rm -rf
// of 10,000 directories reports them one by one, deepest first).
//
// Identities matter because the kernel keeps one watch per directory, not
// per path: watching a directory under its new name while its old name is
// still registered would leave events labelled with the old name, and
// removing the old name afterwards would silently remove the only watch.
type dirSet struct {
	watched  map[string]fileID // zero when unknown
	byID     map[fileID]string
	children map[string]map[string]struct{} // parent -> watched children
}

func newDirSet() *dirSet {
	return &dirSet{
		watched:  make(map[string]fileID),
		byID:     make(map[fileID]string),
		children: make(map[string]map[string]struct{}),
	}
}

func (s *dirSet) len() int { return len(s.watched) }

func (s *dirSet) has(rel string) bool {
	_, ok := s.watched[rel]
	return ok
}

// id returns the recorded identity of rel.
func (s *dirSet) id(rel string) (fileID, bool) {
	id, ok := s.watched[rel]
	return id, ok && id != fileID{}
}

// pathOf returns the watched path of a directory identity.
func (s *dirSet) pathOf(id fileID) (string, bool) {
	rel, ok := s.byID[id]
	return rel, ok
}

// add records rel as watched with identity id (zero when unknown),
// replacing what was recorded for rel.
func (s *dirSet) add(rel string, id fileID) {
	if old, ok := s.watched[rel]; ok {
		if old != (fileID{}) && s.byID[old] == rel {
			delete(s.byID, old)
		}
	} else if rel != "." {
		p := parent(rel)
		c := s.children[p]
		if c == nil {
			c = make(map[string]struct{})
			s.children[p] = c
		}
		c[rel] = struct{}{}
	}
	s.watched[rel] = id
	if id != (fileID{}) {
		s.byID[id] = rel
	}
}

// removeTree drops rel and every watched directory below it, calling drop
// for each, deepest first.
func (s *dirSet) removeTree(rel string, drop func(rel string)) {
	for c := range s.children[rel] {
		s.removeTree(c, drop)
	}
	delete(s.children, rel)
	id, ok := s.watched[rel]
	if !ok {
		return
	}
	delete(s.watched, rel)
	if id != (fileID{}) && s.byID[id] == rel {
		delete(s.byID, id)
	}
	if rel != "." {
		p := parent(rel)
		delete(s.children[p], rel)
		if len(s.children[p]) == 0 {
			delete(s.children, p)
		}
	}
	drop(rel)
}
