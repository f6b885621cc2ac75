package config

import "testing"

func TestWALModes(t *testing.T) {
	for content, want := range map[string]WALMode{
		"":                            WALAuto,
		"[storage]\nwal = true\n":     WALOn,
		"[storage]\nwal = false\n":    WALOff,
		"[storage]\nwal = \"auto\"\n": WALAuto,
	} {
		path := ""
		if content != "" {
			path = writeFile(t, "edge.toml", content)
		}
		c, err := Load(path)
		if err != nil {
			t.Fatalf("%q: %v", content, err)
		}
		if c.Storage.WAL != want {
			t.Errorf("%q: %q, want %q", content, c.Storage.WAL, want)
		}
	}
	if !WALOn.Required() || WALAuto.Required() || !WALAuto.Enabled() || WALOff.Enabled() {
		t.Error("modes mean the wrong thing")
	}
}
