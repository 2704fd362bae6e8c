package redislimit_test

import (
	"context"
	"log"
	"log/slog"
	"os"

	"github.com/redis/go-redis/v9"

	connect "github.com/personaconnect/connect-go"
	"github.com/personaconnect/connect-go/redislimit"
)

// Every replica of a service builds its client this way: one budget per
// Persona environment, in the Redis they share. (Not run: it needs Redis.)
func ExampleNew() {
	opts, err := redis.ParseURL(os.Getenv("REDIS_URL")) // redis://redis:6379/0
	if err != nil {
		log.Fatal(err)
	}
	rdb := redis.NewClient(opts)
	defer rdb.Close()

	limiter, err := redislimit.New(rdb, "persona:production", redislimit.PersonaDefault,
		// Fail open (the default) but say so: calls go on, paced by
		// Persona's RateLimit headers alone, while Redis is down.
		redislimit.WithOnError(func(err error) { slog.Warn("shared Persona budget unavailable", "err", err) }))
	if err != nil {
		log.Fatal(err)
	}
	client, err := connect.NewClient(os.Getenv("PERSONA_API_KEY"), connect.WithRateLimiter(limiter))
	if err != nil {
		log.Fatal(err)
	}
	if _, err := client.Connections.List(context.Background(), nil); err != nil {
		log.Print(err)
	}
}
