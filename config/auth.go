package config

import (
	"fmt"
	"math"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// AutoMaxSize, the default storage.max_size_bytes, asks for a cap derived
// from the free disk when the database is created.
const AutoMaxSize = -1

const (
	minTokenChars     = 16
	minJWTSecretBytes = 32
	// minTokenBits and minSecretBits are the least estimated entropy a
	// token and a JWT secret must have (see estimatedBits). A random
	// 16-character base64 token has about 60 bits by this estimate, a
	// random 32-byte base64 secret about 140.
	minTokenBits  = 56
	minSecretBits = 112
	minJWTMaxLife = time.Minute
	maxJWTMaxLife = 30 * 24 * time.Hour
)

// exampleSecrets are values printed in this repository's documentation.
// Anyone can read them, so they are refused wherever a secret goes.
func exampleSecrets() []string {
	return []string{
		"change-me-to-a-long-random-string",
		"at-least-32-bytes-of-random-secret-data",
		"token-issued-by-central",
	}
}

// Auth configures how API clients authenticate: static bearer tokens, and
// optionally JWTs signed either with a shared secret (HS256) or with a
// private key whose public half is given. Secret and public key are mutually
// exclusive so that it is always clear which key signs the tokens.
type Auth struct {
	// Tokens are static bearer tokens (at least 16 characters, no
	// whitespace, not an example value, not guessable), each with a role:
	// {token = "...", role = "pbx"}; a table without role is pbx. A bare
	// string, as configs written before roles hold, keeps the full access
	// (admin) it had. When empty, the first start generates a pbx and an
	// admin token and stores only their hashes.
	Tokens []Token `toml:"tokens"`
	// JWTSecret is the HS256 shared secret (at least 32 bytes).
	JWTSecret string `toml:"jwt_secret"`
	// JWTPublicKeyFile is a PEM file holding an RSA, ECDSA (P-256) or
	// Ed25519 public key for verifying JWTs.
	JWTPublicKeyFile string `toml:"jwt_public_key_file"`
	// JWTIssuer, when set, must equal the token's "iss" claim.
	JWTIssuer string `toml:"jwt_issuer"`
	// JWTAudience, when set, must be among the token's "aud" claim.
	JWTAudience string `toml:"jwt_audience"`
	// JWTLeeway tolerates clock skew when checking exp and nbf (0..10m).
	JWTLeeway Duration `toml:"jwt_leeway"`
	// JWTMaxLifetime is the longest a JWT may be valid, from its iat (or
	// from now without one) to its exp (1m..720h). Every JWT needs exp.
	JWTMaxLifetime Duration `toml:"jwt_max_lifetime"`
}

// Token is one entry of auth.tokens.
type Token struct {
	Token string `toml:"token"`
	// Role is pbx, admin, metrics or viewer.
	Role string `toml:"role"`
	// Legacy is set for a bare string entry: full access, as before roles.
	Legacy bool `toml:"-"`
}

// UnmarshalTOML reads a bare string (a token of a config from before
// roles: admin) or a table {token, role} (role defaults to pbx).
func (t *Token) UnmarshalTOML(v any) error {
	switch v := v.(type) {
	case string:
		*t = Token{Token: v, Role: "admin", Legacy: true}
		return nil
	case map[string]any:
		*t = Token{Role: "pbx"}
		for k, x := range v {
			s, ok := x.(string)
			if !ok {
				return fmt.Errorf("auth.tokens: %q must be a string", k)
			}
			switch k {
			case "token":
				t.Token = s
			case "role":
				t.Role = s
			default:
				return fmt.Errorf("auth.tokens: unknown key %q (want token and role)", k)
			}
		}
		return nil
	default:
		return fmt.Errorf("auth.tokens: each entry must be a string or a table {token = \"...\", role = \"pbx\"}, got %T", v)
	}
}

// TokensFor returns the configured tokens whose role is role.
func (a Auth) TokensFor(role string) []string {
	var out []string
	for _, t := range a.Tokens {
		if t.Role == role {
			out = append(out, t.Token)
		}
	}
	return out
}

func isExampleSecret(s string) bool {
	lower := strings.ToLower(s)
	for _, ex := range exampleSecrets() {
		if lower == ex {
			return true
		}
	}
	return false
}

func isRole(s string) bool {
	switch s {
	case "pbx", "admin", "metrics", "viewer":
		return true
	}
	return false
}

// validate checks the auth keys; messages never echo secrets.
func (a *Auth) validate() []error {
	var errs []error
	add := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{key}, args...)...))
	}
	seen := make(map[string]int, len(a.Tokens))
	for i, t := range a.Tokens {
		key := fmt.Sprintf("auth.tokens[%d]", i)
		if !isRole(t.Role) {
			add(key, "role must be pbx, admin, metrics or viewer, got %q", t.Role)
		}
		if n := utf8.RuneCountInString(t.Token); n < minTokenChars {
			add(key, "must be at least %d characters, got %d", minTokenChars, n)
		} else if msg := weakSecret(t.Token, minTokenBits); msg != "" {
			add(key, "%s; generate one with `openssl rand -base64 32`", msg)
		}
		if strings.IndexFunc(t.Token, unicode.IsSpace) >= 0 {
			add(key, "must not contain whitespace")
		}
		if j, dup := seen[t.Token]; dup {
			add(key, "duplicates auth.tokens[%d]", j)
		} else {
			seen[t.Token] = i
		}
	}
	if a.JWTSecret != "" {
		if len(a.JWTSecret) < minJWTSecretBytes {
			add("auth.jwt_secret", "must be at least %d bytes, got %d", minJWTSecretBytes, len(a.JWTSecret))
		} else if msg := weakSecret(a.JWTSecret, minSecretBits); msg != "" {
			add("auth.jwt_secret", "%s; generate one with `openssl rand -base64 48`", msg)
		}
	}
	if a.JWTPublicKeyFile != "" {
		if err := checkReadableFile(a.JWTPublicKeyFile); err != nil {
			add("auth.jwt_public_key_file", "%v", err)
		}
	}
	if a.JWTSecret != "" && a.JWTPublicKeyFile != "" {
		add("auth.jwt_secret", "is mutually exclusive with auth.jwt_public_key_file; set only one")
	}
	if a.JWTSecret == "" && a.JWTPublicKeyFile == "" {
		// Without a key no JWT is ever accepted, so these would be ignored.
		if a.JWTIssuer != "" {
			add("auth.jwt_issuer", "has no effect without auth.jwt_secret or auth.jwt_public_key_file")
		}
		if a.JWTAudience != "" {
			add("auth.jwt_audience", "has no effect without auth.jwt_secret or auth.jwt_public_key_file")
		}
	}
	if a.JWTLeeway.Duration < 0 || a.JWTLeeway.Duration > maxJWTLeeway {
		add("auth.jwt_leeway", "must be between 0s and %s, got %s", maxJWTLeeway, a.JWTLeeway)
	}
	if d := a.JWTMaxLifetime.Duration; d < minJWTMaxLife || d > maxJWTMaxLife {
		add("auth.jwt_max_lifetime", "must be between %s and %s, got %s", minJWTMaxLife, maxJWTMaxLife, a.JWTMaxLifetime)
	}
	return errs
}

// weakSecret says why s is not a secret, or "" when it may be one: an
// example value from the documentation, or less estimated entropy than
// minBits.
func weakSecret(s string, minBits float64) string {
	if isExampleSecret(s) {
		return "is the example value from the documentation"
	}
	lower := strings.ToLower(s)
	for _, w := range []string{"change-me", "changeme", "replace-me", "example"} {
		if strings.Contains(lower, w) {
			return fmt.Sprintf("looks like a placeholder (contains %q)", w)
		}
	}
	if bits := estimatedBits(s); bits < minBits {
		return fmt.Sprintf("is too easy to guess (about %.0f bits of entropy, want %.0f)", bits, minBits)
	}
	return ""
}

// estimatedBits is a rough upper bound of the entropy in s: its length
// times the Shannon entropy of its character frequencies. It cannot tell
// random from merely varied, but it refuses repeats ("aaaa…") and short
// alphabets ("12121212…"), which is what a hurried operator types.
func estimatedBits(s string) float64 {
	counts := map[rune]int{}
	n := 0
	for _, r := range s {
		counts[r]++
		n++
	}
	var h float64
	for _, c := range counts {
		p := float64(c) / float64(n)
		h -= p * math.Log2(p)
	}
	return h * float64(n)
}
