package api_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"
)

// benchPost sends a prepared body and fails on anything but 201.
func benchPost(b *testing.B, e *env, path string, body []byte) {
	hr, _ := http.NewRequest("POST", e.http.URL+path, bytes.NewReader(body))
	hr.Header.Set("Content-Type", "application/json")
	hr.Header.Set("Authorization", "Bearer "+keyLender)
	resp, err := e.http.Client().Do(hr)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	// Read to the end so that the connection is reused, as by any client
	// that keeps connections alive.
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		b.Fatal(err)
	}
	if resp.StatusCode != http.StatusCreated {
		b.Fatalf("status %d", resp.StatusCode)
	}
}

// BenchmarkDecision is one POST /v1/decisions through HTTP: validation,
// scoring, TreeSHAP, policy, record, durable queueing.
func BenchmarkDecision(b *testing.B) {
	e := newEnv(b, envOptions{})
	body, _ := json.Marshal(validApp("bench"))
	b.Run("serial", func(b *testing.B) {
		for b.Loop() {
			benchPost(b, e, "/v1/decisions", body)
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.SetParallelism(16)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				benchPost(b, e, "/v1/decisions", body)
			}
		})
	})
}

// BenchmarkBatch1000 is one POST /v1/decisions/batch of 1,000 applications.
func BenchmarkBatch1000(b *testing.B) {
	e := newEnv(b, envOptions{})
	apps := make([]any, 1000)
	for i := range apps {
		apps[i] = validApp(fmt.Sprintf("bench-%d", i))
	}
	body, _ := json.Marshal(map[string]any{"applications": apps})
	for b.Loop() {
		benchPost(b, e, "/v1/decisions/batch", body)
	}
	b.ReportMetric(float64(b.N*1000)/b.Elapsed().Seconds(), "decisions/s")
}
