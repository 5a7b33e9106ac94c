package main

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// engine runs the workload: it owns the live data set and serves /work requests.
// Serve is safe for concurrent use; Update serialises workload changes.
type engine struct {
	mu       sync.Mutex // serialises Update, so resizes never interleave
	workload atomic.Pointer[Workload]
	data     dataset
	cache    *quoteCache
	// unitsPerMicro is how many burn units take one microsecond of CPU on this machine.
	unitsPerMicro float64
	seq           atomic.Uint64
	served        atomic.Uint64
}

// newEngine builds the data set for w and calibrates the CPU burn.
func newEngine(w Workload) (*engine, error) {
	if err := w.Validate(); err != nil {
		return nil, err
	}
	e := &engine{cache: newQuoteCache(), unitsPerMicro: calibrateBurn()}
	e.workload.Store(&Workload{})
	if _, err := e.Update(WorkloadPatch{LiveHeapMiB: &w.LiveHeapMiB, GarbageKiB: &w.GarbageKiB, CPUMicros: &w.CPUMicros}); err != nil {
		return nil, err
	}
	return e, nil
}

// Workload returns the workload in effect.
func (e *engine) Workload() Workload { return *e.workload.Load() }

// Update applies p to the workload in effect, all or nothing: an invalid result is an
// error and changes nothing. The live data set is resized before Update returns, so a
// caller pushing the heap up sees the memory in use when its request completes.
func (e *engine) Update(p WorkloadPatch) (Workload, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	w := p.Apply(e.Workload())
	if err := w.Validate(); err != nil {
		return e.Workload(), err
	}
	live := int64(w.LiveHeapMiB) << 20
	cacheBytes := int64(float64(live) * cacheShare)
	e.cache.resize(int(cacheBytes / quoteBytes))
	e.data.resize(shardsFor(live - cacheBytes))
	e.workload.Store(&w)
	return w, nil
}

// liveEstimate is the live heap the data set should account for, in bytes.
func (e *engine) liveEstimate() int64 {
	return int64(e.data.size())*customerBytes + int64(e.cache.len())*quoteBytes
}

// badRequest is an error in the client's input: /work answers 400 with it.
type badRequest struct{ msg string }

func (b *badRequest) Error() string { return b.msg }

// orderRequest is the body of POST /work, and what GET /work generates.
type orderRequest struct {
	OrderID  string     `json:"order_id"`
	Customer string     `json:"customer"`
	Currency string     `json:"currency"`
	Coupon   string     `json:"coupon,omitempty"`
	Shipping address    `json:"shipping"`
	Notes    string     `json:"notes,omitempty"`
	Items    []lineItem `json:"items"`
}

type address struct {
	Name    string `json:"name"`
	Street  string `json:"street"`
	City    string `json:"city"`
	Postal  string `json:"postal"`
	Country string `json:"country"`
}

type lineItem struct {
	SKU      string            `json:"sku"`
	Name     string            `json:"name"`
	Category string            `json:"category"`
	Quantity int               `json:"quantity"`
	Price    float64           `json:"price"`
	Attrs    map[string]string `json:"attrs,omitempty"`
}

type orderResponse struct {
	OrderID         string          `json:"order_id"`
	Customer        string          `json:"customer"`
	CustomerName    string          `json:"customer_name,omitempty"`
	Currency        string          `json:"currency"`
	Subtotal        float64         `json:"subtotal"`
	Discount        float64         `json:"discount"`
	Tax             float64         `json:"tax"`
	Total           float64         `json:"total"`
	Categories      []categoryTotal `json:"categories"`
	Lines           []string        `json:"lines"`
	SKUs            []string        `json:"skus"`
	TopTerms        []string        `json:"top_terms"`
	Recommendations []string        `json:"recommendations,omitempty"`
	PreviousQuote   *float64        `json:"previous_quote,omitempty"`
	Digest          string          `json:"digest"`
}

type categoryTotal struct {
	Category string  `json:"category"`
	Items    int     `json:"items"`
	Subtotal float64 `json:"subtotal"`
	Tax      float64 `json:"tax"`
}

var (
	categories = []string{"books", "music", "games", "garden", "kitchen", "tools", "toys", "sports", "beauty", "grocery", "office", "pets"}
	taxRates   = map[string]float64{"books": 0.07, "grocery": 0.07, "pets": 0.19, "toys": 0.19}
	adjectives = []string{"classic", "deluxe", "compact", "wireless", "organic", "vintage", "smart", "rugged", "premium", "eco", "portable", "modular"}
	nouns      = []string{"kettle", "lantern", "notebook", "speaker", "backpack", "trowel", "puzzle", "blender", "racket", "candle", "keyboard", "leash"}
	colors     = []string{"red", "green", "blue", "black", "white", "amber"}
	sizes      = []string{"xs", "s", "m", "l", "xl"}
	currencies = []string{"EUR", "USD", "GBP"}
	cities     = []string{"Lisbon", "Berlin", "Austin", "Osaka", "Nairobi", "Montreal"}
)

// Serve handles one /work request: body is an order, or empty to have one generated with
// as many items as the workload's garbage per request needs. It returns the JSON response.
func (e *engine) Serve(body []byte) ([]byte, error) {
	w := e.Workload()
	return e.serve(body, itemsFor(w.GarbageKiB), w.CPUMicros)
}

// serve is Serve with the generated order's size and the CPU burn given.
func (e *engine) serve(body []byte, items, cpuMicros int) ([]byte, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		gen, err := json.Marshal(e.generateOrder(items))
		if err != nil {
			return nil, fmt.Errorf("encode generated order: %w", err)
		}
		body = gen
	}
	// Decoding even a generated order is the point: a real service pays for its input.
	var order orderRequest
	if err := json.Unmarshal(body, &order); err != nil {
		return nil, &badRequest{msg: "invalid order JSON: " + err.Error()}
	}
	if err := order.validate(); err != nil {
		return nil, err
	}

	resp, receipt := price(&order)
	e.touchCustomer(&order, resp)
	e.quote(&order, resp)
	sum := sha256.Sum256([]byte(receipt))
	sum = burn(sum, int(float64(cpuMicros)*e.unitsPerMicro))
	resp.Digest = hex.EncodeToString(sum[:8])
	out, err := json.Marshal(resp)
	if err != nil {
		return nil, fmt.Errorf("encode response: %w", err)
	}
	e.served.Add(1)
	return out, nil
}

func (o *orderRequest) validate() error {
	switch {
	case o.OrderID == "":
		return &badRequest{msg: "order_id is empty"}
	case o.Customer == "":
		return &badRequest{msg: "customer is empty"}
	case len(o.Items) == 0:
		return &badRequest{msg: "items is empty: want at least one line item"}
	}
	for i, it := range o.Items {
		if it.SKU == "" || it.Quantity <= 0 || it.Price < 0 || math.IsNaN(it.Price) {
			return &badRequest{msg: fmt.Sprintf("items[%d]: want a sku, a positive quantity and a price of 0 or more", i)}
		}
	}
	return nil
}

func (e *engine) generateOrder(items int) orderRequest {
	cust := 0
	if n := e.data.size(); n > 0 {
		cust = rand.IntN(n)
	}
	o := orderRequest{
		OrderID:  "ord-" + strconv.FormatUint(e.seq.Add(1), 36) + "-" + strconv.Itoa(rand.IntN(1_000_000)),
		Customer: customerID(cust),
		Currency: currencies[rand.IntN(len(currencies))],
		Shipping: address{
			Name:    firstNames[rand.IntN(len(firstNames))] + " " + lastNames[rand.IntN(len(lastNames))],
			Street:  strconv.Itoa(1+rand.IntN(300)) + " " + nouns[rand.IntN(len(nouns))] + " street",
			City:    cities[rand.IntN(len(cities))],
			Postal:  fmt.Sprintf("%05d", rand.IntN(100_000)),
			Country: "XX",
		},
		Items: make([]lineItem, items),
	}
	if rand.IntN(4) == 0 {
		o.Coupon = "SAVE10"
	}
	for i := range o.Items {
		cat := categories[rand.IntN(len(categories))]
		o.Items[i] = lineItem{
			SKU:      strings.ToUpper(cat[:3]) + "-" + strconv.Itoa(10_000+rand.IntN(90_000)),
			Name:     adjectives[rand.IntN(len(adjectives))] + " " + colors[rand.IntN(len(colors))] + " " + nouns[rand.IntN(len(nouns))] + " mk" + strconv.Itoa(1+rand.IntN(9)),
			Category: cat,
			Quantity: 1 + rand.IntN(6),
			Price:    float64(rand.IntN(20_000))/100 + 0.99,
			Attrs:    map[string]string{"color": colors[rand.IntN(len(colors))], "size": sizes[rand.IntN(len(sizes))]},
		}
	}
	return o
}

// price computes the order's totals, lines and indexes, and the receipt text.
func price(o *orderRequest) (*orderResponse, string) {
	resp := &orderResponse{OrderID: o.OrderID, Customer: o.Customer, Currency: o.Currency, Lines: make([]string, 0, len(o.Items))}
	bySKU := make(map[string]*lineItem, len(o.Items))
	byCat := map[string]*categoryTotal{}
	terms := map[string]int{}
	for i := range o.Items {
		it := &o.Items[i]
		if prev, ok := bySKU[it.SKU]; ok {
			prev.Quantity += it.Quantity // the same SKU twice is one line
			continue
		}
		bySKU[it.SKU] = it
		for _, t := range strings.Fields(strings.ToLower(it.Name)) {
			terms[t]++
		}
	}
	skus := slices.Sorted(maps.Keys(bySKU))
	for _, sku := range skus {
		it := bySKU[sku]
		line := float64(it.Quantity) * it.Price
		if it.Quantity >= 5 {
			line *= 0.95 // volume discount
		}
		ct := byCat[it.Category]
		if ct == nil {
			ct = &categoryTotal{Category: it.Category}
			byCat[it.Category] = ct
		}
		rate, ok := taxRates[it.Category]
		if !ok {
			rate = 0.16
		}
		ct.Items += it.Quantity
		ct.Subtotal = round2(ct.Subtotal + line)
		ct.Tax = round2(ct.Tax + line*rate)
		resp.Subtotal += line
		resp.Tax += line * rate
		resp.Lines = append(resp.Lines, fmt.Sprintf("%-10s %-36s %3d x %8.2f = %9.2f %s", sku, it.Name, it.Quantity, it.Price, line, it.Attrs["size"]))
	}
	if o.Coupon == "SAVE10" {
		resp.Discount = resp.Subtotal * 0.1
	}
	resp.Total = round2(resp.Subtotal - resp.Discount + resp.Tax)
	resp.Subtotal, resp.Tax, resp.Discount = round2(resp.Subtotal), round2(resp.Tax), round2(resp.Discount)
	resp.SKUs = skus
	resp.Categories = slices.SortedFunc(func(yield func(categoryTotal) bool) {
		for _, ct := range byCat {
			if !yield(*ct) {
				return
			}
		}
	}, func(a, b categoryTotal) int {
		return cmp.Or(cmp.Compare(b.Subtotal, a.Subtotal), strings.Compare(a.Category, b.Category))
	})
	type termCount struct {
		term string
		n    int
	}
	counts := make([]termCount, 0, len(terms))
	for t, n := range terms {
		counts = append(counts, termCount{t, n})
	}
	slices.SortFunc(counts, func(a, b termCount) int { return cmp.Or(b.n-a.n, strings.Compare(a.term, b.term)) })
	for _, tc := range counts[:min(5, len(counts))] {
		resp.TopTerms = append(resp.TopTerms, tc.term)
	}

	var b strings.Builder
	fmt.Fprintf(&b, "ORDER %s FOR %s (%s)\n", o.OrderID, o.Customer, o.Shipping.City)
	for _, l := range resp.Lines {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	fmt.Fprintf(&b, "TOTAL %.2f %s\n", resp.Total, o.Currency)
	return resp, b.String()
}

func round2(v float64) float64 { return math.Round(v*100) / 100 }

// touchCustomer records the order on its customer in the live data set and reads a few
// neighbours as recommendations: old objects are rewritten to point at new ones, as in a
// real service's state.
func (e *engine) touchCustomer(o *orderRequest, resp *orderResponse) {
	n, err := strconv.Atoi(strings.TrimPrefix(o.Customer, "cust-"))
	if err != nil {
		return // a customer from outside the data set: a guest
	}
	sh := e.data.shardOf(n)
	if sh == nil {
		return
	}
	now := time.Now()
	sh.mu.Lock()
	defer sh.mu.Unlock()
	c := sh.byID[o.Customer]
	if c == nil {
		return
	}
	c.Orders[c.next] = orderRef{OrderID: o.OrderID, Total: resp.Total, Items: len(o.Items), At: now}
	c.next = (c.next + 1) % len(c.Orders)
	c.Lifetime += resp.Total
	c.Visits++
	c.Updated = now
	if len(resp.Categories) > 0 {
		c.Tags["last_category"] = resp.Categories[0].Category
	}
	resp.CustomerName = c.Name
	for range 4 {
		r := sh.list[rand.IntN(len(sh.list))]
		last := r.Orders[(r.next+len(r.Orders)-1)%len(r.Orders)]
		resp.Recommendations = append(resp.Recommendations, r.Tags["tier"]+":"+r.Name+":"+strconv.Itoa(last.Items))
	}
}

// quote caches a summary of the answer for the customer, replacing the previous one.
func (e *engine) quote(o *orderRequest, resp *orderResponse) {
	if prev, ok := e.cache.get(o.Customer); ok {
		resp.PreviousQuote = &prev.Total
	}
	q := &quote{
		Key:        o.Customer,
		Customer:   o.Customer,
		Total:      resp.Total,
		Currency:   o.Currency,
		Lines:      slices.Clone(resp.Lines[:min(quoteLines, len(resp.Lines))]),
		Categories: make(map[string]float64, quoteLines),
		Created:    time.Now(),
	}
	for _, ct := range resp.Categories[:min(quoteLines, len(resp.Categories))] {
		q.Categories[ct.Category] = ct.Subtotal
	}
	e.cache.put(q)
}

// burn hashes seed units times: pure computation that allocates nothing.
func burn(seed [32]byte, units int) [32]byte {
	for range units {
		seed = sha256.Sum256(seed[:])
	}
	return seed
}

// calibrateBurn measures burn units per microsecond of CPU on this machine, on the
// thread's CPU clock where there is one. The best of several trials is the rate with the
// least interference (a preempted trial on the wall clock, cache misses after a migration),
// so a busy machine at start-up does not make every later request burn too little.
func calibrateBurn() float64 {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	now := func() time.Duration {
		if d, ok := threadCPUTime(); ok {
			return d
		}
		return time.Duration(time.Now().UnixNano())
	}
	const trial = 5 * time.Millisecond
	units := 256
	var seed [32]byte
	for {
		start := now()
		seed = burn(seed, units)
		if now()-start >= trial {
			break
		}
		units *= 2
	}
	best := 0.0
	for range 7 {
		start := now()
		seed = burn(seed, units)
		if took := now() - start; took > 0 {
			best = max(best, float64(units)/(float64(took)/float64(time.Microsecond)))
		}
	}
	burnSink.Store(uint32(seed[0]))
	return best
}

// burnSink keeps the compiler from proving calibration's hashing unused.
var burnSink atomic.Uint32
