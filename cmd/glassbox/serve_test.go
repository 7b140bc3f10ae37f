package main

import (
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
)

// TestDebugAddrGuard: --debug-addr must be on loopback unless
// --debug-allow-remote says otherwise; serve refuses before it opens
// anything.
func TestDebugAddrGuard(t *testing.T) {
	for _, tc := range []struct {
		addr string
		ok   bool
	}{
		{"127.0.0.1:6060", true},
		{"127.1.2.3:6060", true},
		{"[::1]:6060", true},
		{"localhost:6060", true},
		{"[::ffff:127.0.0.1]:6060", true},
		{":6060", false}, // every interface
		{"0.0.0.0:6060", false},
		{"[::]:6060", false},
		{"10.1.2.3:6060", false},
		{"192.168.0.10:6060", false},
		{"debug.example:6060", false}, // names may resolve anywhere
		{"127.0.0.1", false},          // no port
	} {
		err := checkLoopback(tc.addr)
		if (err == nil) != tc.ok {
			t.Errorf("checkLoopback(%q) = %v, want ok %v", tc.addr, err, tc.ok)
		}
	}
	dir := t.TempDir()
	err := runServe(context.Background(), []string{"--data-dir", dir, "--debug-addr", "0.0.0.0:0"}, io.Discard, io.Discard)
	if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), "--debug-allow-remote") {
		t.Errorf("serve with a remote --debug-addr: %v", err)
	}
	// With --debug-allow-remote the guard lets it through: the next check
	// (a bad --token-ttl, given so that serve stops there) is what fails.
	err = runServe(context.Background(), []string{"--data-dir", dir, "--debug-addr", "0.0.0.0:0", "--debug-allow-remote", "--token-ttl", "-1h"}, io.Discard, io.Discard)
	if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), "--token-ttl") {
		t.Errorf("serve with --debug-allow-remote: %v", err)
	}
}

func TestParseProxies(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    []string
		wantErr bool
	}{
		{"", nil, false},
		{"10.0.0.0/8", []string{"10.0.0.0/8"}, false},
		{" 10.1.2.3/8 , 192.0.2.1,::1, 2001:db8::/32", []string{"10.0.0.0/8", "192.0.2.1/32", "::1/128", "2001:db8::/32"}, false},
		{"::ffff:192.0.2.1", []string{"192.0.2.1/32"}, false},
		{"10.0.0.0/33", nil, true},
		{"proxy.example", nil, true},
	} {
		got, err := parseProxies(tc.in)
		if (err != nil) != tc.wantErr {
			t.Errorf("parseProxies(%q) error %v", tc.in, err)
			continue
		}
		var s []string
		for _, p := range got {
			s = append(s, p.String())
		}
		if !slices.Equal(s, tc.want) {
			t.Errorf("parseProxies(%q) = %v, want %v", tc.in, s, tc.want)
		}
	}
	err := runServe(context.Background(), []string{"--data-dir", t.TempDir(), "--trusted-proxies", "10.0.0.0/99"}, io.Discard, io.Discard)
	if !errors.Is(err, errUsage) {
		t.Errorf("serve with a bad --trusted-proxies: %v", err)
	}
}
