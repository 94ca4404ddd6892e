package watch

// dirSet is the set of watched directories (relative slash paths) with a
// child index, so that dropping a removed or moved-away tree costs its own
// size, not the size of the whole set (rm -rf of 10,000 directories reports
// them one by one, deepest first).
type dirSet struct {
	watched  map[string]struct{}
	children map[string]map[string]struct{} // parent -> watched children
}

func newDirSet() *dirSet {
	return &dirSet{watched: make(map[string]struct{}), children: make(map[string]map[string]struct{})}
}

func (s *dirSet) len() int { return len(s.watched) }

func (s *dirSet) has(rel string) bool {
	_, ok := s.watched[rel]
	return ok
}

func (s *dirSet) add(rel string) {
	if s.has(rel) {
		return
	}
	s.watched[rel] = struct{}{}
	if rel == "." {
		return
	}
	p := parent(rel)
	c := s.children[p]
	if c == nil {
		c = make(map[string]struct{})
		s.children[p] = c
	}
	c[rel] = struct{}{}
}

// removeTree drops rel and every watched directory below it, calling drop
// for each, deepest first.
func (s *dirSet) removeTree(rel string, drop func(rel string)) {
	for c := range s.children[rel] {
		s.removeTree(c, drop)
	}
	delete(s.children, rel)
	if !s.has(rel) {
		return
	}
	delete(s.watched, rel)
	if rel != "." {
		p := parent(rel)
		delete(s.children[p], rel)
		if len(s.children[p]) == 0 {
			delete(s.children, p)
		}
	}
	drop(rel)
}
