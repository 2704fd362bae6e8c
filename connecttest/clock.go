package connecttest

import (
	"sync"
	"time"
)

// A Clock is the fake's notion of the current time. Token expiry, the
// redeem delay, rate-limit windows and idempotency-key lifetimes are all
// measured on it, so a test can move time forward with Advance instead of
// sleeping.
//
// A Clock made by NewClock is manual: it stands still until Advance or Set
// moves it. The clock a Server uses when no WithClock option is given
// follows the wall clock, and Advance on it adds a fixed offset.
//
// A Clock is safe for concurrent use.
type Clock struct {
	mu     sync.Mutex
	manual bool
	base   time.Time
	offset time.Duration
	moved  chan struct{} // closed by Advance and Set; nil until waited on
}

// NewClock returns a manual Clock that reads start until it is advanced.
func NewClock(start time.Time) *Clock {
	return &Clock{manual: true, base: start}
}

// newRealClock returns a Clock that follows the wall clock.
func newRealClock() *Clock {
	return &Clock{}
}

// Now returns the clock's current time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.manual {
		return c.base.Add(c.offset)
	}
	return time.Now().Add(c.offset)
}

// Advance moves the clock forward by d (backward if d is negative).
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
	c.signalLocked()
}

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	defer c.signalLocked()
	if c.manual {
		c.base, c.offset = t, 0
		return
	}
	c.offset = time.Until(t)
}

// movedChan returns a channel that Advance or Set closes.
func (c *Clock) movedChan() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.moved == nil {
		c.moved = make(chan struct{})
	}
	return c.moved
}

func (c *Clock) signalLocked() {
	if c.moved != nil {
		close(c.moved)
		c.moved = nil
	}
}
