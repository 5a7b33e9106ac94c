package store

import (
	"bytes"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"
)

// NewMemory returns a Store kept in memory: for tests, and for a control plane that needs
// no durability. It behaves like the bbolt store, transactions included.
func NewMemory() Store {
	m := &memKV{data: map[string]map[string][]byte{}}
	for _, b := range buckets {
		m.data[b] = map[string][]byte{}
	}
	return &kvStore{db: m, now: time.Now}
}

type memKV struct {
	mu   sync.RWMutex
	data map[string]map[string][]byte
}

// update runs fn on a copy of the touched buckets and swaps them in only if fn succeeds, so
// a failed transaction leaves nothing behind.
func (m *memKV) update(fn func(tx) error) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	t := &memTx{m: m, writes: map[string]map[string][]byte{}}
	if err := fn(t); err != nil {
		return err
	}
	for b, w := range t.writes {
		m.data[b] = w
	}
	return nil
}

func (m *memKV) batch(fn func(tx) error) error { return m.update(fn) }

func (m *memKV) view(fn func(tx) error) error {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return fn(&memTx{m: m})
}

func (m *memKV) close() error { return nil }

type memTx struct {
	m      *memKV
	writes map[string]map[string][]byte // copy-on-write buckets; nil in a view
}

func (t *memTx) read(bucket string) map[string][]byte {
	if w, ok := t.writes[bucket]; ok {
		return w
	}
	return t.m.data[bucket]
}

func (t *memTx) write(bucket string) map[string][]byte {
	if w, ok := t.writes[bucket]; ok {
		return w
	}
	w := maps.Clone(t.m.data[bucket])
	t.writes[bucket] = w
	return w
}

func (t *memTx) get(bucket, key string) []byte {
	v, ok := t.read(bucket)[key]
	if !ok {
		return nil
	}
	return bytes.Clone(v)
}

func (t *memTx) put(bucket, key string, val []byte) error {
	t.write(bucket)[key] = bytes.Clone(val)
	return nil
}

func (t *memTx) del(bucket, key string) error {
	delete(t.write(bucket), key)
	return nil
}

func (t *memTx) scan(bucket, prefix string, reverse bool, fn func(string, []byte) bool) error {
	b := t.read(bucket)
	keys := slices.Sorted(maps.Keys(b))
	if reverse {
		slices.Reverse(keys)
	}
	for _, k := range keys {
		if strings.HasPrefix(k, prefix) && !fn(k, bytes.Clone(b[k])) {
			return nil
		}
	}
	return nil
}
