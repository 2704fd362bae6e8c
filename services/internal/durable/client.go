package durable

import (
	"fmt"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"

	connect "github.com/personaconnect/connect-go"
)

// ClientConfig is how a service reaches Persona.
type ClientConfig struct {
	Service   string // "redeem-service": the User-Agent's product
	Prefix    string // the metrics prefix, such as "redeem"
	APIKey    string
	BaseURL   string            // empty: Persona's
	Transport http.RoundTripper // nil: http.DefaultTransport
	// Calls counts every attempt by status code; Registry gets the rate
	// limiter's error counter.
	Calls       *prometheus.CounterVec
	Registry    prometheus.Registerer
	RateLimiter connect.RateLimiter // nil: each replica paces itself
	Extra       []connect.ClientOption
}

// NewClient is a service's Persona client: its User-Agent, every attempt
// counted, a request held at most MaxRateLimitWait for the rate limit (a
// longer wait snoozes the job instead, see Snooze), and the shared rate
// budget when there is one. Extra options come last and win.
func NewClient(c ClientConfig) (*connect.Client, error) {
	opts := []connect.ClientOption{
		connect.WithUserAgent(c.Service + "/" + connect.Version),
		connect.WithHTTPClient(&http.Client{Transport: CountingTransport{Next: c.Transport, Calls: c.Calls}}),
		connect.WithMaxRateLimitWait(MaxRateLimitWait),
	}
	if c.BaseURL != "" {
		opts = append(opts, connect.WithBaseURL(c.BaseURL))
	}
	if c.RateLimiter != nil {
		opts = append(opts, connect.WithRateLimiter(c.RateLimiter))
		RegisterLimiterErrors(c.Registry, c.Prefix, c.RateLimiter)
	}
	client, err := connect.NewClient(c.APIKey, append(opts, c.Extra...)...)
	if err != nil {
		return nil, fmt.Errorf("persona client: %w", err)
	}
	return client, nil
}
