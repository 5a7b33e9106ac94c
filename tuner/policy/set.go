package policy

import (
	"fmt"
	"os"
	"sort"
	"sync"
	"time"
)

// Set holds the policies in force outside Kubernetes: those of a policy file (re-read when
// it changes) and those put through the API. A name may only be used once across both.
type Set struct {
	mu      sync.RWMutex
	file    map[string]Policy
	api     map[string]Policy
	path    string
	modTime time.Time
}

// NewSet returns an empty set.
func NewSet() *Set { return &Set{file: map[string]Policy{}, api: map[string]Policy{}} }

// Policies lists every policy, sorted by key.
func (s *Set) Policies() []Policy {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]Policy, 0, len(s.file)+len(s.api))
	for _, p := range s.file {
		out = append(out, p)
	}
	for _, p := range s.api {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key() < out[j].Key() })
	return out
}

// Get returns one policy.
func (s *Set) Get(key string) (Policy, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if p, ok := s.file[key]; ok {
		return p, true
	}
	p, ok := s.api[key]
	return p, ok
}

// FromFile reports whether a policy came from the policy file (and cannot be changed
// through the API).
func (s *Set) FromFile(key string) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	_, ok := s.file[key]
	return ok
}

// LoadFile reads the policy file, replacing the policies it held. On error nothing
// changes.
func (s *Set) LoadFile(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("policy file: %w", err)
	}
	ps, err := LoadFile(path)
	if err != nil {
		return err
	}
	next := map[string]Policy{}
	for _, p := range ps {
		next[p.Key()] = p
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for k := range next {
		if _, dup := s.api[k]; dup {
			return fmt.Errorf("%s: policy %q is also defined through the API; delete one of them", path, k)
		}
	}
	s.file, s.path, s.modTime = next, path, st.ModTime()
	return nil
}

// ReloadIfChanged re-reads the policy file when its modification time changed. It returns
// whether it reloaded.
func (s *Set) ReloadIfChanged() (bool, error) {
	s.mu.RLock()
	path, mod := s.path, s.modTime
	s.mu.RUnlock()
	if path == "" {
		return false, nil
	}
	st, err := os.Stat(path)
	if err != nil {
		return false, fmt.Errorf("policy file: %w", err)
	}
	if st.ModTime().Equal(mod) {
		return false, nil
	}
	return true, s.LoadFile(path)
}

// Put adds or replaces a policy from the API.
func (s *Set) Put(p Policy) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.file[p.Key()]; ok {
		return fmt.Errorf("policy %q comes from the policy file %s; change it there", p.Key(), s.path)
	}
	s.api[p.Key()] = p
	return nil
}

// Delete removes a policy put through the API.
func (s *Set) Delete(key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.file[key]; ok {
		return fmt.Errorf("policy %q comes from the policy file %s; remove it there", key, s.path)
	}
	if _, ok := s.api[key]; !ok {
		return fmt.Errorf("policy %q does not exist", key)
	}
	delete(s.api, key)
	return nil
}
