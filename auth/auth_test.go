package auth

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/enneo-edge/enneo-edge/clock"
)

const (
	staticTok  = "edge_static-token-for-tests"
	sessionTok = "s:sess1on.sig+/=" // as stored by express before URL-encoding
)

// testNow is the injected fixed "now" for JWT time checks; testClock
// stands still at it.
func testNow() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) }

var testClock = clock.NewManual(testNow())

// keys holds asymmetric test keys and their public PEMs.
type keys struct {
	rsa     *rsa.PrivateKey
	ec      *ecdsa.PrivateKey
	ed      ed25519.PrivateKey
	rsaPEM  []byte
	ecPEM   []byte
	edPEM   []byte
	ec384PE []byte
}

func pubPEM(t testing.TB, pub any) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

func genKeys(t testing.TB) keys {
	t.Helper()
	var k keys
	var err error
	if k.rsa, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		t.Fatal(err)
	}
	if k.ec, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		t.Fatal(err)
	}
	var edPub ed25519.PublicKey
	if edPub, k.ed, err = ed25519.GenerateKey(rand.Reader); err != nil {
		t.Fatal(err)
	}
	ec384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k.rsaPEM = pubPEM(t, &k.rsa.PublicKey)
	k.ecPEM = pubPEM(t, &k.ec.PublicKey)
	k.edPEM = pubPEM(t, edPub)
	k.ec384PE = pubPEM(t, &ec384.PublicKey)
	return k
}

func sign(t testing.TB, m jwt.SigningMethod, key any, c jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(m, c).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func bearer(tok string) Credentials { return Credentials{Authorization: []byte("Bearer " + tok)} }

func TestCheck(t *testing.T) {
	k := genKeys(t)
	secret := []byte("0123456789abcdef0123456789abcdef")
	now := testNow().Unix()
	valid := jwt.MapClaims{"sub": "agent-1", "iat": now, "exp": now + 3600}
	hs := func(c jwt.MapClaims) string { return sign(t, jwt.SigningMethodHS256, secret, c) }

	static := Options{Tokens: []string{staticTok, sessionTok}, Clock: testClock}
	hsOpts := Options{Tokens: []string{staticTok}, JWTSecret: secret, Clock: testClock}
	withLeeway := hsOpts
	withLeeway.Leeway = time.Minute
	withIssAud := hsOpts
	withIssAud.Issuer, withIssAud.Audience = "https://enneo.example", "edge"
	rsaOpts := Options{JWTPublicKeyPEM: k.rsaPEM, Clock: testClock}
	ecOpts := Options{JWTPublicKeyPEM: k.ecPEM, Clock: testClock}
	edOpts := Options{JWTPublicKeyPEM: k.edPEM, Clock: testClock}

	// alg=none with an empty signature, crafted by hand.
	noneTok := b64(`{"alg":"none","typ":"JWT"}`) + "." + b64(`{"sub":"x"}`) + "."

	tests := []struct {
		name  string
		opts  Options
		creds Credentials
		want  error
	}{
		{"internal token", static, Credentials{InternalToken: []byte(staticTok)}, nil},
		{"cookie", static, Credentials{Cookie: []byte("a=b; connect.sid=" + staticTok + "; c=d")}, nil},
		{"cookie quoted", static, Credentials{Cookie: []byte(`connect.sid="` + staticTok + `"`)}, nil},
		{"cookie url-encoded", static, Credentials{Cookie: []byte("connect.sid=s%3Asess1on.sig%2B%2F%3D")}, nil},
		{"cookie bad escape", static, Credentials{Cookie: []byte("connect.sid=s%3Asess1on.sig%2")}, ErrInvalid},
		{"bearer static", static, bearer(staticTok), nil},
		{"bearer lowercase", static, Credentials{Authorization: []byte("bearer " + staticTok)}, nil},
		{"bearer upper extra spaces", static, Credentials{Authorization: []byte("BEARER   " + staticTok + " ")}, nil},
		{"any valid wins", static, Credentials{InternalToken: []byte("nope"), Authorization: []byte("Bearer " + staticTok)}, nil},
		{"wrong internal", static, Credentials{InternalToken: []byte("nope")}, ErrInvalid},
		{"wrong cookie", static, Credentials{Cookie: []byte("connect.sid=nope")}, ErrInvalid},
		{"wrong bearer", static, bearer("nope"), ErrInvalid},
		{"prefix of token", static, bearer(staticTok[:len(staticTok)-1]), ErrInvalid},
		{"missing", static, Credentials{}, ErrMissing},
		{"unrelated cookies only", static, Credentials{Cookie: []byte("theme=dark; lang=de")}, ErrMissing},
		{"basic scheme", static, Credentials{Authorization: []byte("Basic dXNlcjpwYXNz")}, ErrInvalid},
		{"bearer without token", static, Credentials{Authorization: []byte("Bearer ")}, ErrInvalid},
		{"bearerXYZ", static, Credentials{Authorization: []byte("Bearer" + staticTok)}, ErrInvalid},
		{"garbage jwt", hsOpts, bearer("abc.def"), ErrInvalid},
		{"huge bearer", hsOpts, bearer(strings.Repeat("A", 100<<10)), ErrInvalid},
		{"huge bearer static only", static, bearer(strings.Repeat("A", 100<<10)), ErrInvalid},
		{"huge cookie", static, Credentials{Cookie: []byte("connect.sid=" + strings.Repeat("%41", 40<<10))}, ErrInvalid},
		{"jwt not configured", static, bearer(hs(valid)), ErrInvalid},

		{"hs256 valid", hsOpts, bearer(hs(valid)), nil},
		{"hs256 no exp", hsOpts, bearer(hs(jwt.MapClaims{"sub": "machine"})), ErrInvalid},
		{"hs256 empty claims", hsOpts, bearer(hs(jwt.MapClaims{})), ErrInvalid},
		{"static still works with jwt", hsOpts, bearer(staticTok), nil},
		{"hs256 wrong secret", hsOpts, bearer(sign(t, jwt.SigningMethodHS256, []byte("other-secret-other-secret-other!"), valid)), ErrInvalid},
		{"hs384 refused", hsOpts, bearer(sign(t, jwt.SigningMethodHS384, secret, valid)), ErrInvalid},
		{"alg none", hsOpts, bearer(noneTok), ErrInvalid},
		{"alg none rsa", rsaOpts, bearer(noneTok), ErrInvalid},
		{"expired", hsOpts, bearer(hs(jwt.MapClaims{"exp": now - 30})), ErrExpired},
		{"expired within leeway", withLeeway, bearer(hs(jwt.MapClaims{"exp": now - 30})), nil},
		{"expired beyond leeway", withLeeway, bearer(hs(jwt.MapClaims{"exp": now - 90})), ErrExpired},
		{"nbf in future", hsOpts, bearer(hs(jwt.MapClaims{"nbf": now + 600, "exp": now + 900})), ErrInvalid},
		{"nbf within leeway", withLeeway, bearer(hs(jwt.MapClaims{"nbf": now + 30, "exp": now + 900})), nil},
		{"tampered payload", hsOpts, bearer(func() string {
			p := strings.Split(hs(valid), ".")
			return p[0] + "." + b64(`{"sub":"admin"}`) + "." + p[2]
		}()), ErrInvalid},

		{"iss aud ok", withIssAud, bearer(hs(jwt.MapClaims{"iss": "https://enneo.example", "aud": "edge", "exp": now + 60})), nil},
		{"iss aud list ok", withIssAud, bearer(hs(jwt.MapClaims{"iss": "https://enneo.example", "aud": []string{"x", "edge"}, "exp": now + 60})), nil},
		{"iss mismatch", withIssAud, bearer(hs(jwt.MapClaims{"iss": "https://evil.example", "aud": "edge"})), ErrInvalid},
		{"aud mismatch", withIssAud, bearer(hs(jwt.MapClaims{"iss": "https://enneo.example", "aud": "other"})), ErrInvalid},
		{"iss missing", withIssAud, bearer(hs(jwt.MapClaims{"aud": "edge"})), ErrInvalid},
		{"aud missing", withIssAud, bearer(hs(jwt.MapClaims{"iss": "https://enneo.example"})), ErrInvalid},

		{"rs256 valid", rsaOpts, bearer(sign(t, jwt.SigningMethodRS256, k.rsa, valid)), nil},
		{"rs256 expired", rsaOpts, bearer(sign(t, jwt.SigningMethodRS256, k.rsa, jwt.MapClaims{"exp": now - 1})), ErrExpired},
		{"ps256 with rsa refused", rsaOpts, bearer(sign(t, jwt.SigningMethodPS256, k.rsa, valid)), ErrInvalid},
		{"alg confusion hs256 with rsa pem", rsaOpts, bearer(sign(t, jwt.SigningMethodHS256, k.rsaPEM, valid)), ErrInvalid},
		{"es256 valid", ecOpts, bearer(sign(t, jwt.SigningMethodES256, k.ec, valid)), nil},
		{"alg confusion hs256 with ec pem", ecOpts, bearer(sign(t, jwt.SigningMethodHS256, k.ecPEM, valid)), ErrInvalid},
		{"rs256 token with ec key", ecOpts, bearer(sign(t, jwt.SigningMethodRS256, k.rsa, valid)), ErrInvalid},
		{"eddsa valid", edOpts, bearer(sign(t, jwt.SigningMethodEdDSA, k.ed, valid)), nil},
		{"alg confusion hs256 with ed pem", edOpts, bearer(sign(t, jwt.SigningMethodHS256, k.edPEM, valid)), ErrInvalid},
		{"es256 token with ed key", edOpts, bearer(sign(t, jwt.SigningMethodES256, k.ec, valid)), ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := New(tt.opts)
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			err = a.Check(tt.creds)
			t.Logf("Check = %v", err)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Check = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("Check = %v, want %v", err, tt.want)
			}
			// The presented secret must never leak into the error text.
			for _, v := range [][]byte{tt.creds.Authorization, tt.creds.Cookie, tt.creds.InternalToken} {
				if len(v) > 8 && strings.Contains(err.Error(), string(v)) {
					t.Fatalf("error %q contains presented credential", err)
				}
			}
		})
	}
}

func TestNewErrors(t *testing.T) {
	k := genKeys(t)
	rsaPriv := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k.rsa)})
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		opts    Options
		wantSub string
	}{
		{"secret and key", Options{JWTSecret: []byte("s"), JWTPublicKeyPEM: k.rsaPEM}, "mutually exclusive"},
		{"not pem", Options{JWTPublicKeyPEM: []byte("hello")}, "parse jwt public key: no PEM block"},
		{"private key", Options{JWTPublicKeyPEM: rsaPriv}, "parse jwt public key: unsupported PEM block"},
		{"p384", Options{JWTPublicKeyPEM: k.ec384PE}, "parse jwt public key: ecdsa curve"},
		{"small rsa", Options{JWTPublicKeyPEM: pubPEM(t, &small.PublicKey)}, "parse jwt public key: rsa key has 1024 bits"},
		{"corrupt der", Options{JWTPublicKeyPEM: pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte{1, 2, 3}})}, "parse jwt public key: pkix"},
		{"empty token", Options{Tokens: []string{"a", ""}}, "static token 1 is empty"},
		{"negative leeway", Options{JWTSecret: []byte("s"), Leeway: -time.Second}, "negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.wantSub) {
				t.Fatalf("New err = %v, want containing %q", err, tt.wantSub)
			}
		})
	}
}

// TestKeyFuncChecksMethodType exercises the keyfunc's own method check, which
// jwt.WithValidMethods normally shadows.
func TestKeyFuncChecksMethodType(t *testing.T) {
	k := genKeys(t)
	v, err := newJWTVerifier(Options{JWTPublicKeyPEM: k.rsaPEM})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []jwt.SigningMethod{jwt.SigningMethodHS256, jwt.SigningMethodPS256, jwt.SigningMethodRS384, jwt.SigningMethodNone} {
		if _, err := v.keyFunc(&jwt.Token{Method: m}); err == nil {
			t.Errorf("keyFunc accepted %s for an RSA key", m.Alg())
		}
	}
	if key, err := v.keyFunc(&jwt.Token{Method: jwt.SigningMethodRS256}); err != nil || key == nil {
		t.Errorf("keyFunc(RS256) = %v, %v", key, err)
	}
}

func TestNewAcceptsPKCS1AndCertificate(t *testing.T) {
	k := genKeys(t)
	pkcs1 := pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&k.rsa.PublicKey)})
	a, err := New(Options{JWTPublicKeyPEM: pkcs1, Clock: testClock})
	if err != nil {
		t.Fatal(err)
	}
	tok := sign(t, jwt.SigningMethodRS256, k.rsa, jwt.MapClaims{"sub": "x", "exp": testNow().Unix() + 60})
	if err := a.Check(bearer(tok)); err != nil {
		t.Fatalf("pkcs1: %v", err)
	}

	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: testNow(), NotAfter: testNow().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.ec.PublicKey, k.ec)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if a, err = New(Options{JWTPublicKeyPEM: certPEM, Clock: testClock}); err != nil {
		t.Fatal(err)
	}
	tok = sign(t, jwt.SigningMethodES256, k.ec, jwt.MapClaims{"sub": "x", "exp": testNow().Unix() + 60})
	if err := a.Check(bearer(tok)); err != nil {
		t.Fatalf("certificate: %v", err)
	}
}

func TestZeroOptionsRefuseEverything(t *testing.T) {
	a, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Check(bearer("anything")); !errors.Is(err, ErrInvalid) {
		t.Fatalf("got %v, want ErrInvalid", err)
	}
	if err := a.Check(Credentials{}); !errors.Is(err, ErrMissing) {
		t.Fatalf("got %v, want ErrMissing", err)
	}
}

func TestGenerateToken(t *testing.T) {
	seen := map[string]bool{}
	for range 10 {
		tok, err := GenerateToken()
		if err != nil {
			t.Fatal(err)
		}
		raw, ok := strings.CutPrefix(tok, "edge_")
		if !ok {
			t.Fatalf("token %q lacks prefix", tok)
		}
		if b, err := base64.RawURLEncoding.DecodeString(raw); err != nil || len(b) != 32 {
			t.Fatalf("token body: %d bytes, err %v", len(b), err)
		}
		if seen[tok] {
			t.Fatal("duplicate token")
		}
		seen[tok] = true
		a, err := New(Options{Tokens: []string{tok}})
		if err != nil {
			t.Fatal(err)
		}
		if err := a.Check(bearer(tok)); err != nil {
			t.Fatalf("generated token refused: %v", err)
		}
	}
}

func TestStaticPathDoesNotAllocate(t *testing.T) {
	a, err := New(Options{Tokens: []string{staticTok, sessionTok}, JWTSecret: []byte("secret")})
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]Credentials{
		"bearer":   bearer(staticTok),
		"internal": {InternalToken: []byte(staticTok)},
		"cookie":   {Cookie: []byte("x=y; connect.sid=" + staticTok)},
		"encoded":  {Cookie: []byte("connect.sid=s%3Asess1on.sig%2B%2F%3D")},
	} {
		if n := testing.AllocsPerRun(100, func() {
			if err := a.Check(c); err != nil {
				t.Fatal(err)
			}
		}); n != 0 {
			t.Errorf("%s: %v allocs per Check, want 0", name, n)
		}
	}
}

func BenchmarkCheckStatic(b *testing.B) {
	tok, err := GenerateToken()
	if err != nil {
		b.Fatal(err)
	}
	a, err := New(Options{Tokens: []string{"edge_other", tok}, JWTSecret: []byte("secret")})
	if err != nil {
		b.Fatal(err)
	}
	c := bearer(tok)
	b.ReportAllocs()
	for b.Loop() {
		if err := a.Check(c); err != nil {
			b.Fatal(err)
		}
	}
}
