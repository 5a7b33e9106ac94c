package main

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"
)

// The live heap is a customer data set plus a cache of recent quotes, pointer-rich like the
// state of a real service (maps of structs holding strings, slices and maps), so the GC's
// mark phase costs per byte what it costs there. Requests read and rewrite parts of it.
//
// customerBytes and quoteBytes are what one customer and one cached quote keep live,
// including their share of the maps that index them. Measured with
//
//	go test ./cmd/demoapp -run TestLiveHeapCalibration -v
//
// (runtime/metrics /gc/heap/live:bytes after runtime.GC, per record built), on Go 1.26
// linux/amd64; TestLiveHeapSize checks the data set stays within 25% of the size asked for.
const (
	customerBytes = 1214
	quoteBytes    = 732
	// shardCustomers is the unit the data set grows and shrinks by: dropping a whole
	// shard frees its map too (Go maps never shrink), so a smaller live set is really
	// smaller.
	shardCustomers = 256
	ordersKept     = 8 // recent orders kept per customer, a ring
	// cacheShare of the live heap is the quote cache, the rest is customers.
	cacheShare = 0.125
)

// customer is one record of the long-lived data set.
type customer struct {
	ID       string
	Name     string
	Email    string
	Segment  string
	Tags     map[string]string
	Orders   []orderRef // ring of the last ordersKept orders; next is the slot to overwrite
	next     int
	Lifetime float64
	Visits   int
	Updated  time.Time
}

type orderRef struct {
	OrderID string
	Total   float64
	Items   int
	At      time.Time
}

// shard holds shardCustomers customers. mu guards the customers' mutable fields.
type shard struct {
	mu   sync.Mutex
	byID map[string]*customer
	list []*customer // for picking customers at random
}

// dataset is the customers. Only the shards slice is guarded by mu; a request holding a
// shard from before a shrink finishes its work on it and the shard is freed afterwards.
type dataset struct {
	mu     sync.RWMutex
	shards []*shard
}

var (
	firstNames = []string{"Ada", "Grace", "Alan", "Edsger", "Barbara", "Ken", "Dennis", "Radia", "Leslie", "Frances", "John", "Margaret", "Donald", "Niklaus", "Tony", "Shafi"}
	lastNames  = []string{"Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Thompson", "Ritchie", "Perlman", "Lamport", "Allen", "Backus", "Hamilton", "Knuth", "Wirth", "Hoare", "Goldwasser"}
	segments   = []string{"consumer", "smb", "enterprise", "partner"}
	regions    = []string{"eu-west", "eu-central", "us-east", "us-west", "ap-south", "ap-northeast"}
	tiers      = []string{"bronze", "silver", "gold", "platinum"}
)

func customerID(n int) string { return "cust-" + strconv.Itoa(n) }

func newCustomer(n int, now time.Time) *customer {
	first, last := firstNames[rand.IntN(len(firstNames))], lastNames[rand.IntN(len(lastNames))]
	c := &customer{
		ID:      customerID(n),
		Name:    first + " " + last,
		Email:   fmt.Sprintf("%s.%s%d@example.com", first, last, n),
		Segment: segments[n%len(segments)],
		Tags: map[string]string{
			"region":  regions[rand.IntN(len(regions))],
			"tier":    tiers[rand.IntN(len(tiers))],
			"source":  "signup-" + strconv.Itoa(rand.IntN(1000)),
			"account": "acct-" + strconv.Itoa(n*7919%1_000_003),
		},
		Orders:  make([]orderRef, ordersKept),
		Updated: now,
	}
	for i := range c.Orders {
		c.Orders[i] = orderRef{
			OrderID: "ord-" + strconv.Itoa(n) + "-" + strconv.Itoa(i),
			Total:   float64(rand.IntN(50_000)) / 100,
			Items:   1 + rand.IntN(9),
			At:      now.Add(-time.Duration(rand.IntN(90*24)) * time.Hour),
		}
	}
	return c
}

func newShard(index int, now time.Time) *shard {
	s := &shard{byID: make(map[string]*customer, shardCustomers), list: make([]*customer, shardCustomers)}
	for i := range shardCustomers {
		c := newCustomer(index*shardCustomers+i, now)
		s.byID[c.ID] = c
		s.list[i] = c
	}
	return s
}

// shardsFor is how many shards make about bytes of customers.
func shardsFor(bytes int64) int {
	return int((bytes + shardCustomers*customerBytes/2) / (shardCustomers * customerBytes))
}

// resize grows or shrinks the data set to n shards. New shards are built outside the lock
// so requests go on meanwhile. Callers serialise resizes.
func (d *dataset) resize(n int) {
	d.mu.RLock()
	have := len(d.shards)
	d.mu.RUnlock()
	if n > have {
		now := time.Now()
		fresh := make([]*shard, 0, n-have)
		for i := have; i < n; i++ {
			fresh = append(fresh, newShard(i, now))
		}
		d.mu.Lock()
		d.shards = append(d.shards, fresh...)
		d.mu.Unlock()
		return
	}
	d.mu.Lock()
	clear(d.shards[n:]) // let the GC have them
	d.shards = d.shards[:n:n]
	d.mu.Unlock()
}

func (d *dataset) size() int {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return len(d.shards) * shardCustomers
}

// shardOf returns the shard holding customer n, or nil when n is out of range (the data
// set shrank, or the caller asked for a customer that never existed).
func (d *dataset) shardOf(n int) *shard {
	d.mu.RLock()
	defer d.mu.RUnlock()
	i := n / shardCustomers
	if n < 0 || i >= len(d.shards) {
		return nil
	}
	return d.shards[i]
}

// quote is a cached answer for a customer: what a service keeps to answer repeat requests
// without recomputing. Entries form an LRU list.
type quote struct {
	Key        string
	Customer   string
	Total      float64
	Currency   string
	Lines      []string
	Categories map[string]float64
	Created    time.Time

	prev, next *quote
}

// quoteCache is an LRU cache bounded by entry count. Evicted quotes become garbage that
// lived for a while, which is the hardest kind for a GC: marked, then dropped.
type quoteCache struct {
	mu       sync.Mutex
	capacity int
	byKey    map[string]*quote
	head     quote // sentinel: head.next is the most recent, head.prev the least
}

func newQuoteCache() *quoteCache {
	c := &quoteCache{byKey: map[string]*quote{}}
	c.head.next, c.head.prev = &c.head, &c.head
	return c
}

func (c *quoteCache) unlink(q *quote) {
	q.prev.next, q.next.prev = q.next, q.prev
	q.prev, q.next = nil, nil
}

func (c *quoteCache) pushFront(q *quote) {
	q.prev, q.next = &c.head, c.head.next
	c.head.next.prev = q
	c.head.next = q
}

// get returns the quote for key and marks it recent.
func (c *quoteCache) get(key string) (*quote, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	q, ok := c.byKey[key]
	if ok {
		c.unlink(q)
		c.pushFront(q)
	}
	return q, ok
}

// put stores q as the most recent entry, evicting the least recent ones over capacity.
func (c *quoteCache) put(q *quote) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.byKey[q.Key]; ok {
		c.unlink(old)
	}
	c.byKey[q.Key] = q
	c.pushFront(q)
	c.evictLocked()
}

func (c *quoteCache) evictLocked() {
	for len(c.byKey) > c.capacity {
		last := c.head.prev
		c.unlink(last)
		delete(c.byKey, last.Key)
	}
}

// resize sets the capacity and fills the cache up to it, so the live heap is its full size
// from the start rather than after capacity requests. Shrinking rebuilds the index map,
// which would otherwise keep its largest size.
func (c *quoteCache) resize(capacity int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	shrink := capacity < c.capacity
	c.capacity = capacity
	c.evictLocked()
	if shrink {
		m := make(map[string]*quote, len(c.byKey))
		for k, q := range c.byKey {
			m[k] = q
		}
		c.byKey = m
	}
	now := time.Now()
	for i := len(c.byKey); i < capacity; i++ {
		q := syntheticQuote(i, now)
		c.byKey[q.Key] = q
		c.pushFront(q)
	}
}

func (c *quoteCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.byKey)
}

// syntheticQuote is a cache entry of the same shape and size as one a request leaves.
func syntheticQuote(i int, now time.Time) *quote {
	key := "warm-" + strconv.Itoa(i)
	q := &quote{
		Key:        key,
		Customer:   key,
		Currency:   "EUR",
		Total:      float64(rand.IntN(100_000)) / 100,
		Lines:      make([]string, 0, quoteLines),
		Categories: make(map[string]float64, quoteLines),
		Created:    now,
	}
	for j := range quoteLines {
		cat := categories[(i+j)%len(categories)]
		q.Categories[cat] = float64(rand.IntN(10_000)) / 100
		q.Lines = append(q.Lines, fmt.Sprintf("%-10s %-36s %3d x %8.2f = %9.2f %s",
			"SYN-"+strconv.Itoa(10_000+j), "synthetic "+cat+" item", 1, q.Categories[cat], q.Categories[cat], "m"))
	}
	return q
}

// quoteLines is how many lines and categories a cached quote keeps.
const quoteLines = 3
