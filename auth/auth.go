package auth

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/enneo-edge/enneo-edge/clock"
)

// ErrMissing is returned by Check when the request carries no credentials at
// all: no Authorization header, no connect.sid cookie and no
// x-internal-communication-token header. Servers usually answer it with 401.
var ErrMissing = errors.New("missing credentials")

// ErrInvalid is returned by Check (usually wrapped with a short reason) when
// credentials were presented but none of them is acceptable: unknown static
// token, unsupported Authorization scheme, malformed or badly signed JWT,
// disallowed algorithm, issuer/audience mismatch, token not yet valid, or a
// JWT presented while JWT verification is not configured.
var ErrInvalid = errors.New("invalid credentials")

// ErrExpired is returned by Check (possibly wrapped) when a correctly signed
// JWT has an exp claim that lies in the past, beyond the configured leeway.
// It is separate from ErrInvalid so clients can be told to refresh the token.
var ErrExpired = errors.New("token expired")

// tokenPrefix marks tokens made by GenerateToken so operators can recognise
// them in configuration files and secret scanners can find them.
const tokenPrefix = "edge_"

// maxJWTLen bounds the size of a bearer value handed to the JWT parser, so an
// oversized header costs no base64/JSON decoding work. Real enneo JWTs are
// well below 2 KB.
const maxJWTLen = 8 << 10

// decodeBufLen is the stack buffer size for URL-decoding cookie values; longer
// values fall back to a heap buffer.
const decodeBufLen = 256

// Options configure an Authenticator. The zero value accepts nothing.
type Options struct {
	// Tokens are static (opaque) API tokens with full access (RoleAdmin),
	// as every token had before roles existed. They are accepted in the
	// x-internal-communication-token header, as the connect.sid cookie
	// value and as a Bearer token. Only their SHA-256 digests are retained.
	Tokens []string

	// Scoped are static tokens that grant only their role.
	Scoped []Token

	// Digests are tokens known only by their SHA-256 (generated ones).
	Digests []Digest

	// JWTSecret enables HS256 JWT verification with this shared secret.
	// Empty means off. Mutually exclusive with JWTPublicKeyPEM.
	JWTSecret []byte

	// JWTPublicKeyPEM enables asymmetric JWT verification. The key type selects
	// the only accepted algorithm: RSA -> RS256, ECDSA P-256 -> ES256,
	// Ed25519 -> EdDSA. Accepted PEM blocks: PUBLIC KEY (PKIX),
	// RSA PUBLIC KEY (PKCS#1) and CERTIFICATE. Empty means off.
	JWTPublicKeyPEM []byte

	// Issuer and Audience, when non-empty, must match the JWT's iss / aud
	// claims; a token without the claim is then refused.
	Issuer, Audience string

	// Leeway is the clock skew tolerated for the exp and nbf claims.
	Leeway time.Duration

	// MaxLifetime, when positive, refuses JWTs whose exp lies further than
	// this after their iat (or after now, without iat). Every JWT must
	// carry exp: a token that never expires cannot be revoked.
	MaxLifetime time.Duration

	// Clock is the time of JWT checks; nil means clock.Real.
	// Tests inject a fixed clock here.
	Clock clock.Clock
}

// Credentials are the raw values of the request headers that can carry
// credentials. Empty (nil) slices mean the header is absent. Check does not
// retain or modify them, so the server may pass its header buffers directly.
type Credentials struct {
	Authorization []byte // Authorization header
	Cookie        []byte // Cookie header (all cookies)
	InternalToken []byte // x-internal-communication-token header
}

// Authenticator checks request credentials against static tokens and,
// optionally, JWT signatures. It is immutable after New and safe for
// concurrent use.
type Authenticator struct {
	tokens map[[sha256.Size]byte]Role
	maxLen int // length of the longest static token; longer values skip hashing

	jwt *jwtVerifier // nil when JWT verification is off
}

// New builds an Authenticator from o. It fails when a static token is empty,
// when both JWTSecret and JWTPublicKeyPEM are set, when the public key cannot
// be parsed or is of an unsupported type, or when Leeway is negative.
func New(o Options) (*Authenticator, error) {
	a := &Authenticator{tokens: make(map[[sha256.Size]byte]Role, len(o.Tokens)+len(o.Scoped)+len(o.Digests))}
	scoped := append([]Token(nil), o.Scoped...)
	for _, t := range o.Tokens {
		scoped = append(scoped, Token{Secret: t, Role: RoleAdmin})
	}
	for i, t := range scoped {
		if t.Secret == "" {
			return nil, fmt.Errorf("auth: static token %d is empty", i)
		}
		if t.Role == RoleNone {
			return nil, fmt.Errorf("auth: static token %d has no role", i)
		}
		a.tokens[sha256.Sum256([]byte(t.Secret))] = t.Role
		a.maxLen = max(a.maxLen, len(t.Secret))
	}
	for i, d := range o.Digests {
		if d.Role == RoleNone {
			return nil, fmt.Errorf("auth: token digest %d has no role", i)
		}
		a.tokens[d.Sum] = d.Role
		// Generated tokens are "edge_" and 43 characters; a digest
		// says nothing of its token's length, so allow any up to the
		// JWT bound.
		a.maxLen = max(a.maxLen, maxJWTLen)
	}
	v, err := newJWTVerifier(o)
	if err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	a.jwt = v
	return a, nil
}

// Check reports whether c carries acceptable credentials; see Authenticate.
func (a *Authenticator) Check(c Credentials) error {
	_, err := a.Authenticate(c)
	return err
}

// Authenticate returns the role of the credentials in c. It returns
// ErrMissing when nothing was presented, and otherwise an error matching
// ErrInvalid or ErrExpired under errors.Is, whose text is the reason for
// the log. When several credentials fail, the Authorization error wins
// because it is the most specific. Errors never contain the presented
// secret.
//
// The static-token path performs no heap allocation.
func (a *Authenticator) Authenticate(c Credentials) (Role, error) {
	presented := false

	if len(c.InternalToken) > 0 {
		presented = true
		if r := a.static(c.InternalToken); r != RoleNone {
			return r, nil
		}
	}

	if len(c.Cookie) > 0 {
		r, found := a.checkCookie(c.Cookie)
		if r != RoleNone {
			return r, nil
		}
		presented = presented || found
	}

	if len(c.Authorization) > 0 {
		return a.checkAuthorization(c.Authorization)
	}

	if presented {
		return RoleNone, fmt.Errorf("%w: unknown token", ErrInvalid)
	}
	return RoleNone, ErrMissing
}

// static returns the role of tok when it is a known static token.
func (a *Authenticator) static(tok []byte) Role {
	if len(tok) == 0 || len(tok) > a.maxLen {
		return RoleNone
	}
	return a.tokens[sha256.Sum256(tok)]
}

// checkAuthorization verifies an Authorization header value.
func (a *Authenticator) checkAuthorization(h []byte) (Role, error) {
	h = bytes.TrimSpace(h)
	const scheme = "bearer"
	if len(h) <= len(scheme) || !bytes.EqualFold(h[:len(scheme)], []byte(scheme)) ||
		(h[len(scheme)] != ' ' && h[len(scheme)] != '\t') {
		if len(h) == len(scheme) && bytes.EqualFold(h, []byte(scheme)) {
			return RoleNone, fmt.Errorf("%w: empty bearer token", ErrInvalid)
		}
		return RoleNone, fmt.Errorf("%w: unsupported authorization scheme", ErrInvalid)
	}
	tok := bytes.TrimSpace(h[len(scheme):])
	if len(tok) == 0 {
		return RoleNone, fmt.Errorf("%w: empty bearer token", ErrInvalid)
	}
	if r := a.static(tok); r != RoleNone {
		return r, nil
	}
	if a.jwt == nil {
		return RoleNone, fmt.Errorf("%w: unknown token", ErrInvalid)
	}
	if len(tok) > maxJWTLen {
		return RoleNone, fmt.Errorf("%w: bearer token too large", ErrInvalid)
	}
	return a.jwt.verify(string(tok))
}

// checkCookie looks for connect.sid cookies in a Cookie header and checks
// their values, raw and URL-decoded, against the static tokens. found reports
// whether any connect.sid cookie was present at all, so that unrelated
// cookies do not turn a missing-credentials case into an invalid one.
func (a *Authenticator) checkCookie(h []byte) (r Role, found bool) {
	const name = "connect.sid"
	for len(h) > 0 {
		var pair []byte
		if i := bytes.IndexByte(h, ';'); i >= 0 {
			pair, h = h[:i], h[i+1:]
		} else {
			pair, h = h, nil
		}
		pair = bytes.TrimSpace(pair)
		eq := bytes.IndexByte(pair, '=')
		if eq < 0 || string(bytes.TrimSpace(pair[:eq])) != name {
			continue
		}
		found = true
		v := bytes.TrimSpace(pair[eq+1:])
		if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
			v = v[1 : len(v)-1]
		}
		if r := a.static(v); r != RoleNone {
			return r, true
		}
		if bytes.IndexByte(v, '%') >= 0 {
			if r := a.staticDecoded(v); r != RoleNone {
				return r, true
			}
		}
	}
	return RoleNone, found
}

// staticDecoded percent-decodes v (as written by encodeURIComponent, which
// express uses for its s%3A... session cookies) and checks the result. Values
// that fit are decoded into a stack buffer to avoid allocating.
func (a *Authenticator) staticDecoded(v []byte) Role {
	var stack [decodeBufLen]byte
	buf := stack[:0]
	if len(v) > decodeBufLen {
		buf = make([]byte, 0, len(v))
	}
	dec, ok := percentDecode(buf, v)
	if !ok {
		return RoleNone
	}
	return a.static(dec)
}

// percentDecode appends the percent-decoded form of s to dst. '+' is kept
// literally (cookies use URL component encoding, not form encoding). It
// reports false on a malformed escape.
func percentDecode(dst, s []byte) ([]byte, bool) {
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			dst = append(dst, s[i])
			continue
		}
		if i+2 >= len(s) {
			return nil, false
		}
		hi, ok1 := unhex(s[i+1])
		lo, ok2 := unhex(s[i+2])
		if !ok1 || !ok2 {
			return nil, false
		}
		dst = append(dst, hi<<4|lo)
		i += 2
	}
	return dst, true
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// GenerateToken returns a new random static API token: "edge_" followed by
// 32 random bytes in unpadded base64url. enneo-edge uses it to create a token
// at first start when none is configured.
func GenerateToken() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("auth: generate token: %w", err)
	}
	return tokenPrefix + base64.RawURLEncoding.EncodeToString(b[:]), nil
}
