package main

import (
	"strings"
	"testing"
)

func TestServerURL(t *testing.T) {
	tests := []struct {
		listen, want, err string
	}{
		{"127.0.0.1:8005", "http://127.0.0.1:8005", ""},
		{":8005", "http://127.0.0.1:8005", ""},
		{"0.0.0.0:9000", "http://127.0.0.1:9000", ""},
		{"[::]:9000", "http://127.0.0.1:9000", ""},
		{"[::1]:9000", "http://[::1]:9000", ""},
		{"10.1.2.3:80", "http://10.1.2.3:80", ""},
		{"127.0.0.1:0", "", "picks a random port: pass -url"},
		{"localhost", "", `server.listen "localhost"`},
	}
	for _, tc := range tests {
		got, err := serverURL(tc.listen)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("serverURL(%q): error %v, want %q", tc.listen, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("serverURL(%q) = %q, %v; want %q", tc.listen, got, err, tc.want)
		}
	}
}

func TestRunOutboxRefusesBadArguments(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"-url", "http://127.0.0.1:1", "-token", "t", "frobnicate"}, `unknown or incomplete subcommand "frobnicate"`},
		{[]string{"-url", "http://127.0.0.1:1", "-token", "t", "retry"}, `unknown or incomplete subcommand "retry"`},
		{[]string{"-url", "http://127.0.0.1:1", "-token", "t", "retry", "x"}, `retry: SEQ must be a positive integer, got "x"`},
		{[]string{"-url", "http://127.0.0.1:1", "-token", "t", "list"}, "is enneo-edge running?"},
	}
	t.Setenv("ENNEO_EDGE_TOKEN", "")
	for _, tc := range tests {
		err := runOutbox(append([]string{"-config", ""}, tc.args...))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("outbox %v: %v, want %q", tc.args, err, tc.want)
		}
	}
	if err := runOutbox([]string{"-config", "", "-url", "http://127.0.0.1:1", "list"}); err == nil || !strings.Contains(err.Error(), "no API token") {
		t.Errorf("without a token: %v", err)
	}
}
