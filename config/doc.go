// Package config loads and validates the enneo-edge configuration file.
//
// enneo-edge runs unattended beside a PBX, so a bad configuration must stop
// the binary at start-up with a message an operator can act on, rather than
// surface later as a confusing runtime failure. The package therefore:
//
//   - starts from built-in defaults ([Default]) so a minimal or missing file
//     still yields a working local setup;
//   - rejects unknown keys, because a misspelt key would otherwise be
//     silently ignored and its default used instead;
//   - reports every validation problem at once ([Config.Validate]), each
//     message starting with the full dotted key ("site.id: ...") so it can be
//     found in the file.
//
// The file format is TOML; config.example.toml at the repository root
// documents every key together with its default.
package config
