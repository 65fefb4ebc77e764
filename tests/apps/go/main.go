// sentry-go against Kent: go run main.go DSN
// Sends a message, a wrapped error (with user, tags and breadcrumbs) and a
// transaction with a child span; prints the event IDs as JSON.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/getsentry/sentry-go"
)

var errNotFound = errors.New("row 42 not found")

func loadRow(id int) error {
	return fmt.Errorf("loading order %d: %w", id, errNotFound)
}

func main() {
	err := sentry.Init(sentry.ClientOptions{
		Dsn:              os.Args[1],
		Release:          "kent-tests@1.0.0",
		Environment:      "test",
		TracesSampleRate: 1.0,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	ids := []string{}
	sentry.ConfigureScope(func(scope *sentry.Scope) {
		scope.SetUser(sentry.User{ID: "u-7", Email: "ada@example.com"})
		scope.SetTag("shard", "eu-1")
	})
	sentry.AddBreadcrumb(&sentry.Breadcrumb{Category: "auth", Message: "user logged in"})
	sentry.AddBreadcrumb(&sentry.Breadcrumb{
		Category: "cart", Message: "item added", Data: map[string]interface{}{"n": 3},
	})
	ids = append(ids, string(*sentry.CaptureMessage("hello from go")))
	ids = append(ids, string(*sentry.CaptureException(loadRow(42))))

	span := sentry.StartSpan(context.Background(), "task",
		sentry.TransactionName("nightly-report"))
	child := span.StartChild("db")
	child.Description = "load rows"
	child.Finish()
	span.Finish()
	ids = append(ids, span.TraceID.String())

	if !sentry.Flush(30 * time.Second) {
		fmt.Fprintln(os.Stderr, "flush timed out")
		os.Exit(1)
	}
	out, _ := json.Marshal(map[string]interface{}{"event_ids": ids, "sdk_version": sentry.Version})
	fmt.Println(string(out))
}
