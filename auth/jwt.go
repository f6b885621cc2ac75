package auth

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/enneo-edge/enneo-edge/clock"
)

// minRSABits is the smallest RSA modulus accepted for RS256 verification.
const minRSABits = 2048

// jwtVerifier verifies JWTs against exactly one key and one algorithm. Pinning
// the algorithm to the key type prevents algorithm-confusion attacks (e.g. an
// HS256 token "signed" with the RSA public key bytes) and alg=none.
type jwtVerifier struct {
	alg         string // the only accepted "alg" header value
	key         any    // []byte, *rsa.PublicKey, *ecdsa.PublicKey or ed25519.PublicKey
	parser      *jwt.Parser
	now         func() time.Time
	maxLifetime time.Duration
}

// claims are the registered claims plus the edge's role claim.
type claims struct {
	jwt.RegisteredClaims
	// Role names the auth.Role the token grants; absent means pbx, the
	// least a caller of the telephony API needs.
	Role *string `json:"role,omitempty"`
}

// RoleClaim is the JWT claim naming the token's role.
const RoleClaim = "role"

// newJWTVerifier returns nil, nil when JWT verification is not configured.
func newJWTVerifier(o Options) (*jwtVerifier, error) {
	if o.Leeway < 0 {
		return nil, fmt.Errorf("jwt leeway %v is negative", o.Leeway)
	}
	hasSecret, hasKey := len(o.JWTSecret) > 0, len(o.JWTPublicKeyPEM) > 0
	if hasSecret && hasKey {
		return nil, errors.New("jwt secret and jwt public key are mutually exclusive")
	}
	v := &jwtVerifier{}
	switch {
	case hasSecret:
		// Copy so later changes to the caller's slice cannot alter the key.
		v.alg, v.key = jwt.SigningMethodHS256.Alg(), append([]byte(nil), o.JWTSecret...)
	case hasKey:
		pub, err := parsePublicKey(o.JWTPublicKeyPEM)
		if err != nil {
			return nil, fmt.Errorf("parse jwt public key: %w", err)
		}
		alg, err := algForKey(pub)
		if err != nil {
			return nil, fmt.Errorf("parse jwt public key: %w", err)
		}
		v.alg, v.key = alg, pub
	default:
		return nil, nil
	}

	if o.MaxLifetime < 0 {
		return nil, fmt.Errorf("jwt max lifetime %v is negative", o.MaxLifetime)
	}
	now := clock.Or(o.Clock).Now
	v.now, v.maxLifetime = now, o.MaxLifetime
	// RFC 8725 §3.10: exp is required, so every token ends.
	opts := []jwt.ParserOption{
		jwt.WithValidMethods([]string{v.alg}),
		jwt.WithLeeway(o.Leeway),
		jwt.WithTimeFunc(now),
		jwt.WithExpirationRequired(),
	}
	if o.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(o.Issuer))
	}
	if o.Audience != "" {
		opts = append(opts, jwt.WithAudience(o.Audience))
	}
	v.parser = jwt.NewParser(opts...)
	return v, nil
}

// parsePublicKey decodes the first PEM block of b as a PKIX public key, a
// PKCS#1 RSA public key or an X.509 certificate.
func parsePublicKey(b []byte) (any, error) {
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, errors.New("no PEM block found")
	}
	switch block.Type {
	case "PUBLIC KEY":
		pub, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("pkix: %w", err)
		}
		return pub, nil
	case "RSA PUBLIC KEY":
		pub, err := x509.ParsePKCS1PublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("pkcs1: %w", err)
		}
		return pub, nil
	case "CERTIFICATE":
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate: %w", err)
		}
		return cert.PublicKey, nil
	default:
		// Notably refuses private keys: they do not belong on this machine.
		return nil, fmt.Errorf("unsupported PEM block type %q", block.Type)
	}
}

// algForKey maps a public key to the single JWT algorithm it may verify.
func algForKey(pub any) (string, error) {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < minRSABits {
			return "", fmt.Errorf("rsa key has %d bits, need at least %d", k.N.BitLen(), minRSABits)
		}
		return jwt.SigningMethodRS256.Alg(), nil
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return "", fmt.Errorf("ecdsa curve %s not supported, need P-256", k.Curve.Params().Name)
		}
		return jwt.SigningMethodES256.Alg(), nil
	case ed25519.PublicKey:
		return jwt.SigningMethodEdDSA.Alg(), nil
	default:
		return "", fmt.Errorf("unsupported key type %T", pub)
	}
}

// keyFunc hands the configured key to the parser after re-checking the
// token's signing method type, as defence in depth on top of
// jwt.WithValidMethods.
func (v *jwtVerifier) keyFunc(t *jwt.Token) (any, error) {
	var ok bool
	switch v.key.(type) {
	case []byte:
		_, ok = t.Method.(*jwt.SigningMethodHMAC)
	case *rsa.PublicKey:
		_, ok = t.Method.(*jwt.SigningMethodRSA)
	case *ecdsa.PublicKey:
		_, ok = t.Method.(*jwt.SigningMethodECDSA)
	case ed25519.PublicKey:
		_, ok = t.Method.(*jwt.SigningMethodEd25519)
	}
	if !ok || t.Method.Alg() != v.alg {
		return nil, errors.New("unexpected signing method")
	}
	return v.key, nil
}

// verify parses and validates a compact JWT, returns the role it grants
// and maps library errors onto the package's sentinel errors. The token
// text is never put into the error.
func (v *jwtVerifier) verify(tok string) (Role, error) {
	var c claims
	t, err := v.parser.ParseWithClaims(tok, &c, v.keyFunc)
	switch {
	case err == nil:
		return v.checkVerified(t, &c)
	case errors.Is(err, jwt.ErrTokenMalformed):
		return RoleNone, fmt.Errorf("%w: malformed token", ErrInvalid)
	case errors.Is(err, jwt.ErrTokenUnverifiable),
		// The library reports an alg outside WithValidMethods as a signature
		// error; tell the two apart for operators reading logs.
		t != nil && t.Method != nil && t.Method.Alg() != v.alg:
		return RoleNone, fmt.Errorf("%w: signing algorithm not allowed", ErrInvalid)
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return RoleNone, fmt.Errorf("%w: signature invalid", ErrInvalid)
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return RoleNone, fmt.Errorf("%w: required claim missing (exp, or iss/aud when configured)", ErrInvalid)
	case errors.Is(err, jwt.ErrTokenExpired):
		return RoleNone, fmt.Errorf("%w: exp in the past", ErrExpired)
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return RoleNone, fmt.Errorf("%w: token not valid yet", ErrInvalid)
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return RoleNone, fmt.Errorf("%w: issuer mismatch", ErrInvalid)
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return RoleNone, fmt.Errorf("%w: audience mismatch", ErrInvalid)
	default:
		return RoleNone, fmt.Errorf("%w: token rejected", ErrInvalid)
	}
}

// checkVerified applies the checks the library leaves to its caller, on a
// token whose signature and registered claims are valid.
func (v *jwtVerifier) checkVerified(t *jwt.Token, c *claims) (Role, error) {
	// RFC 7515 §4.1.11: a crit extension the recipient does not
	// understand makes the token invalid, and the edge understands none.
	if _, ok := t.Header["crit"]; ok {
		return RoleNone, fmt.Errorf("%w: crit header names extensions this verifier does not support", ErrInvalid)
	}
	// RFC 8725 §3.11: typ, when present, must say this is a JWT and not
	// some other object signed with the same key.
	if typ, ok := t.Header["typ"]; ok {
		s, _ := typ.(string)
		switch strings.TrimPrefix(strings.ToLower(s), "application/") {
		case "jwt", "at+jwt":
		default:
			return RoleNone, fmt.Errorf("%w: typ header is not JWT", ErrInvalid)
		}
	}
	if v.maxLifetime > 0 {
		// From iat, or from now when iat is absent or in the future (a
		// future iat would otherwise stretch the lifetime).
		start := v.now()
		if c.IssuedAt != nil && c.IssuedAt.Before(start) {
			start = c.IssuedAt.Time
		}
		if c.ExpiresAt.Sub(start) > v.maxLifetime {
			return RoleNone, fmt.Errorf("%w: lifetime longer than the allowed %s (auth.jwt_max_lifetime)", ErrInvalid, v.maxLifetime)
		}
	}
	if c.Role == nil {
		return RolePBX, nil
	}
	r, err := ParseRole(*c.Role)
	if err != nil {
		return RoleNone, fmt.Errorf("%w: role claim: %w", ErrInvalid, err)
	}
	return r, nil
}
