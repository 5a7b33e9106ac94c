package store

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
)

// OpenBolt opens (creating if needed) the embedded store in dir/mcp.db. Only one process
// may have it open; a second one gets a clear error after a short wait.
func OpenBolt(dir string) (Store, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("create data dir %s: %w", dir, err)
	}
	path := filepath.Join(dir, "mcp.db")
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if errors.Is(err, bolt.ErrTimeout) {
		return nil, fmt.Errorf("open store %s: another mcp process holds it; stop it or use another --data-dir", path)
	}
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	// Acks from thousands of agents arrive together: let them share commits.
	db.MaxBatchDelay = 20 * time.Millisecond
	err = db.Update(func(t *bolt.Tx) error {
		for _, b := range buckets {
			if _, err := t.CreateBucketIfNotExists([]byte(b)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("initialise store %s: %w", path, err)
	}
	return &kvStore{db: boltKV{db}, now: time.Now}, nil
}

type boltKV struct{ db *bolt.DB }

func (b boltKV) update(fn func(tx) error) error {
	return b.db.Update(func(t *bolt.Tx) error { return fn(boltTx{t}) })
}

func (b boltKV) batch(fn func(tx) error) error {
	return b.db.Batch(func(t *bolt.Tx) error { return fn(boltTx{t}) })
}

func (b boltKV) view(fn func(tx) error) error {
	return b.db.View(func(t *bolt.Tx) error { return fn(boltTx{t}) })
}

func (b boltKV) close() error { return b.db.Close() }

type boltTx struct{ t *bolt.Tx }

func (b boltTx) bucket(name string) *bolt.Bucket { return b.t.Bucket([]byte(name)) }

func (b boltTx) get(bucket, key string) []byte {
	v := b.bucket(bucket).Get([]byte(key))
	if v == nil {
		return nil
	}
	// bbolt's slices are only valid inside the transaction.
	return bytes.Clone(v)
}

func (b boltTx) put(bucket, key string, val []byte) error {
	return b.bucket(bucket).Put([]byte(key), val)
}

func (b boltTx) del(bucket, key string) error { return b.bucket(bucket).Delete([]byte(key)) }

func (b boltTx) scan(bucket, prefix string, reverse bool, fn func(string, []byte) bool) error {
	c := b.bucket(bucket).Cursor()
	p := []byte(prefix)
	if !reverse {
		for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
			if !fn(string(k), bytes.Clone(v)) {
				return nil
			}
		}
		return nil
	}
	var k, v []byte
	if prefix == "" {
		k, v = c.Last()
	} else {
		// Seek past the prefix range, then step back into it.
		end := append(bytes.Clone(p), 0xff)
		k, v = c.Seek(end)
		if k == nil {
			k, v = c.Last()
		} else {
			k, v = c.Prev()
		}
	}
	for ; k != nil && bytes.HasPrefix(k, p); k, v = c.Prev() {
		if !fn(string(k), bytes.Clone(v)) {
			return nil
		}
	}
	return nil
}
