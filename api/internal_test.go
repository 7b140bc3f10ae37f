package api

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
)

// TestRecoverMiddleware: a panicking handler gives a 500 problem and the
// server keeps serving.
func TestRecoverMiddleware(t *testing.T) {
	gin.SetMode(gin.ReleaseMode)
	s := &Server{log: slog.New(slog.DiscardHandler), metrics: newMetrics()}
	e := gin.New()
	e.Use(requestIDMiddleware, s.observe, s.recoverMiddleware)
	e.GET("/boom", func(*gin.Context) { panic("boom") })
	e.GET("/fine", func(c *gin.Context) { c.String(http.StatusOK, "ok") })
	for range 2 {
		w := httptest.NewRecorder()
		e.ServeHTTP(w, httptest.NewRequest("GET", "/boom", nil))
		if w.Code != http.StatusInternalServerError || w.Header().Get("Content-Type") != problemContentType {
			t.Fatalf("panic gave %d %q", w.Code, w.Header().Get("Content-Type"))
		}
		var p Problem
		if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil || p.Status != 500 || p.RequestID == "" {
			t.Errorf("problem %s", w.Body)
		}
		if strings.Contains(w.Body.String(), "boom") {
			t.Error("the panic value leaked into the response")
		}
	}
	w := httptest.NewRecorder()
	e.ServeHTTP(w, httptest.NewRequest("GET", "/fine", nil))
	if w.Code != http.StatusOK {
		t.Errorf("after panics: %d", w.Code)
	}
}

func TestParseJSON(t *testing.T) {
	tests := []struct {
		name, in string
		ok       bool
	}{
		{"object", `{"a":[1,{"b":null}]}`, true},
		{"brackets inside strings do not count", `{"a":"` + strings.Repeat("[", 100) + `"}`, true},
		{"escaped quote", `{"a":"\"[[[[[[[[[[[[[[[[[[[[[[["}`, true},
		{"depth at the limit", strings.Repeat("[", maxJSONDepth) + strings.Repeat("]", maxJSONDepth), true},
		{"too deep", strings.Repeat("[", maxJSONDepth+1) + strings.Repeat("]", maxJSONDepth+1), false},
		{"duplicate nested member", `{"a":{"b":1,"b":2}}`, false},
		{"NaN", `{"a":NaN}`, false},
		{"trailing", `{} x`, false},
		{"empty", ` `, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseJSON([]byte(tc.in))
			if (err == nil) != tc.ok {
				t.Errorf("parseJSON(%.40q) error %v, want ok=%v", tc.in, err, tc.ok)
			}
		})
	}
}

func TestLedgerRecordFields(t *testing.T) {
	fields, err := ledgerRecordFields([]string{"lender", "model", "policy", "features", "score"})
	if err != nil || strings.Join(fields, ",") != "lender,model,policy,features,score" {
		t.Errorf("fields %v, %v", fields, err)
	}
	if _, err := ledgerRecordFields([]string{"lender", "model_id", "rules"}); err == nil ||
		!strings.Contains(err.Error(), "model_id") || !strings.Contains(err.Error(), "rules") {
		t.Errorf("unknown fields accepted or not named: %v", err)
	}
}
