package decisionlog

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/roam-federation/roam/federation/clock"
)

// Defaults.
const (
	DefaultRetention = 14 * 24 * time.Hour
	queueSize        = 16384
	batchSize        = 256
	// linger is how long the writer waits after a small batch, so it is
	// woken about 100 times a second at most, not once per decision.
	linger = 10 * time.Millisecond
)

var bucket = []byte("decisions")

// Record is one decision, without personal data. Times are Unix seconds.
type Record struct {
	LoggedAt      int64    `json:"logged_at"`    // node clock when logged
	EvaluatedAt   int64    `json:"evaluated_at"` // the decision's at
	CodeSHA256    string   `json:"code_sha256"`  // hex, first 16 bytes of SHA-256 of the payload
	Host          string   `json:"host"`
	Issuer        string   `json:"issuer,omitempty"`
	Checkpoint    string   `json:"checkpoint"`
	Outcome       string   `json:"outcome"`
	Reasons       []string `json:"reasons"`
	AgreementID   string   `json:"agreement_id,omitempty"`
	PolicyVersion string   `json:"policy_version,omitempty"`
	RegistryIndex uint64   `json:"registry_index"`
}

// reopenEvery is how many records the writer stores before it closes and
// reopens the store. bbolt keeps an in-memory entry for every page a
// process allocated until the page is freed, and pages of an append-only
// log are freed only when pruned, so without this a node's memory grows
// with every decision it logs (found by the issue-5 soak: about 5 bytes per
// decision, 17 MB in 30 minutes). Reopening drops those entries.
const reopenEvery = 100_000

// Log is a node's decision log. Safe for concurrent use.
type Log struct {
	path      string
	mu        sync.RWMutex // guards db across reopen
	db        *bolt.DB
	written   int // records since the last (re)open; writer goroutine only
	reopens   atomic.Uint64
	every     int // reopenEvery; tests lower it
	clock     clock.Clock
	retention time.Duration
	q         chan item
	seq       atomic.Uint64
	dropped   atomic.Uint64
	done      chan struct{}
	closeOnce sync.Once
}

// Open opens (or creates) the log at path. retention 0 means DefaultRetention.
func Open(path string, clk clock.Clock, retention time.Duration) (*Log, error) {
	if retention <= 0 {
		retention = DefaultRetention
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("open decision log %s: %w", path, err)
	}
	// Keys are (logged_at, sequence): continue the sequence where the
	// store left it, so a record logged in the same second as one before a
	// restart (a simulated clock makes that every record) never overwrites
	// it.
	var last uint64
	if err := db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucket)
		if err != nil {
			return err
		}
		if k, _ := b.Cursor().Last(); len(k) == 16 {
			last = binary.BigEndian.Uint64(k[8:])
		}
		return nil
	}); err != nil {
		db.Close()
		return nil, err
	}
	l := &Log{path: path, db: db, every: reopenEvery, clock: clk, retention: retention, q: make(chan item, queueSize), done: make(chan struct{})}
	l.seq.Store(last)
	go l.run()
	return l, nil
}

// reopen closes and reopens the store (see reopenEvery). If it cannot be
// reopened, later writes fail and their records are counted as dropped.
func (l *Log) reopen() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.db != nil {
		_ = l.db.Close()
	}
	db, err := bolt.Open(l.path, 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		l.db = nil
		return
	}
	l.db = db
	l.written = 0
	l.reopens.Add(1)
}

// Append queues r; it never blocks. A record that does not fit in the
// queue is dropped and counted (Dropped).
func (l *Log) Append(r Record) {
	r.LoggedAt = l.clock.Now().Unix()
	select {
	case l.q <- item{rec: r}:
	default:
		l.dropped.Add(1)
	}
}

// item is a record to write, or (flushed non-nil) a flush marker.
type item struct {
	rec     Record
	flushed chan struct{}
}

// Dropped is how many records were dropped because the queue was full.
func (l *Log) Dropped() uint64 { return l.dropped.Load() }

// key orders records by log time, then by a sequence number.
func (l *Log) key(r Record) []byte {
	k := make([]byte, 16)
	binary.BigEndian.PutUint64(k, uint64(r.LoggedAt))
	binary.BigEndian.PutUint64(k[8:], l.seq.Add(1))
	return k
}

func (l *Log) run() {
	defer close(l.done)
	prune := time.NewTicker(time.Minute)
	defer prune.Stop()
	for {
		select {
		case it, ok := <-l.q:
			if !ok {
				return
			}
			var batch []Record
			var flushes []chan struct{}
			add := func(it item) {
				if it.flushed != nil {
					flushes = append(flushes, it.flushed)
				} else {
					batch = append(batch, it.rec)
				}
			}
			add(it)
		drain:
			for len(batch) < batchSize {
				select {
				case it, ok := <-l.q:
					if !ok {
						break drain
					}
					add(it)
				default:
					break drain
				}
			}
			if len(batch) > 0 {
				if l.db == nil { // a reopen failed: try again (only this goroutine sets db)
					l.reopen()
				}
				if l.write(batch) != nil {
					l.dropped.Add(uint64(len(batch)))
				}
				if l.written += len(batch); l.written >= l.every {
					l.reopen()
				}
			}
			for _, f := range flushes {
				close(f)
			}
			if len(batch) < batchSize {
				// Let records gather: a writer parked on an empty queue is
				// woken (a futex call) by every Append, on the verify path
				// (issue 6 §1). At most queueSize records arrive meanwhile.
				time.Sleep(linger)
			}
		case <-prune.C:
			_ = l.Prune()
		}
	}
}

var errClosed = errors.New("decision log store is not open")

func (l *Log) write(batch []Record) error {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.db == nil {
		return errClosed
	}
	return l.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucket)
		for _, r := range batch {
			v, err := json.Marshal(r)
			if err != nil {
				return err
			}
			if err := b.Put(l.key(r), v); err != nil {
				return err
			}
		}
		return nil
	})
}

// Prune deletes records logged more than the retention period ago, by the
// node's clock.
func (l *Log) Prune() error {
	cut := uint64(l.clock.Now().Add(-l.retention).Unix())
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.db == nil {
		return errClosed
	}
	return l.db.Update(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucket).Cursor()
		for k, _ := c.First(); k != nil && binary.BigEndian.Uint64(k) < cut; k, _ = c.First() {
			if err := c.Delete(); err != nil {
				return err
			}
		}
		return nil
	})
}

// List returns up to limit most recent records, newest first.
func (l *Log) List(limit int) ([]Record, error) {
	var out []Record
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.db == nil {
		return nil, errClosed
	}
	err := l.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucket).Cursor()
		for k, v := c.Last(); k != nil && len(out) < limit; k, v = c.Prev() {
			var r Record
			if err := json.Unmarshal(v, &r); err != nil {
				return err
			}
			out = append(out, r)
		}
		return nil
	})
	return out, err
}

// Flush waits until every record appended before it is written, or ctx ends.
func (l *Log) Flush(ctx context.Context) error {
	f := item{flushed: make(chan struct{})}
	select {
	case l.q <- f:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-f.flushed:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close writes what is queued and closes the store.
func (l *Log) Close() error {
	var err error
	l.closeOnce.Do(func() {
		close(l.q)
		<-l.done
		l.mu.Lock()
		defer l.mu.Unlock()
		if l.db != nil {
			err = l.db.Close()
		}
	})
	return err
}
