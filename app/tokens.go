package app

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/enneo-edge/enneo-edge/auth"
	"github.com/enneo-edge/enneo-edge/config"
	"github.com/enneo-edge/enneo-edge/db"
)

// generatedTokensFile is where the first start writes the tokens it
// generates: beside the database, readable only by the service's user.
// The database keeps only their SHA-256, so this file is the one place
// they are ever shown; the operator copies them and deletes it.
func generatedTokensFile(cfg config.Config) string {
	return filepath.Join(filepath.Dir(cfg.Storage.Path), "generated-tokens")
}

// storedDigests marks the format of the stored record of generated
// tokens: one "role hex-sha256" line each after this header. Anything
// else stored is a token in clear from an earlier version.
const storedDigests = "sha256-v1\n"

// apiTokens returns the credentials to accept: the configured tokens, or
// the ones generated at first start. Generating writes the tokens to
// generatedTokensFile (mode 0600) and stores only their digests, and a
// token stored in clear by an earlier version is replaced by its digest.
// out gets where the tokens are, never a token.
func apiTokens(cfg config.Config, store *db.Store, out io.Writer, log *slog.Logger) (auth.Options, error) {
	var o auth.Options
	if len(cfg.Auth.Tokens) > 0 {
		for i, t := range cfg.Auth.Tokens {
			if t.Legacy {
				log.Warn("a token without a role keeps full access (admin); write it as { token = \"...\", role = \"pbx\" } (or the role it needs)",
					"key", fmt.Sprintf("auth.tokens[%d]", i))
				o.Tokens = append(o.Tokens, t.Token)
				continue
			}
			r, err := auth.ParseRole(t.Role)
			if err != nil {
				return o, fmt.Errorf("auth.tokens[%d]: %w", i, err)
			}
			o.Scoped = append(o.Scoped, auth.Token{Secret: t.Token, Role: r})
		}
		return o, nil
	}
	stored, err := store.APIToken()
	if err != nil {
		return o, fmt.Errorf("read stored api token: %w", err)
	}
	switch {
	case strings.HasPrefix(stored, storedDigests):
		o.Digests, err = parseDigests(stored)
		return o, err
	case stored != "":
		// From an earlier version: the token in clear, with the full
		// access it had. Keep only its digest from now on.
		d := auth.DigestOf(stored, auth.RoleAdmin)
		if err := store.SetAPIToken(context.Background(), formatDigests([]auth.Digest{d})); err != nil {
			return o, fmt.Errorf("replace the stored api token by its hash: %w", err)
		}
		log.Info("the generated API token is now stored as a hash only; it keeps full access (admin)")
		o.Digests = []auth.Digest{d}
		return o, nil
	}
	pbx, err := auth.GenerateToken()
	if err != nil {
		return o, err
	}
	admin, err := auth.GenerateToken()
	if err != nil {
		return o, err
	}
	file := generatedTokensFile(cfg)
	if err := writeTokensFile(file, pbx, admin); err != nil {
		return o, err
	}
	o.Digests = []auth.Digest{auth.DigestOf(pbx, auth.RolePBX), auth.DigestOf(admin, auth.RoleAdmin)}
	if err := store.SetAPIToken(context.Background(), formatDigests(o.Digests)); err != nil {
		_ = os.Remove(file)
		return o, fmt.Errorf("store generated api tokens: %w", err)
	}
	fmt.Fprintf(out, "enneo-edge generated a pbx and an admin API token; they are in %s (readable only by this user).\n"+
		"Only their hashes are kept: copy them where they are needed, then delete the file.\n", file)
	return o, nil
}

// writeTokensFile writes the generated tokens where only this user can
// read them, replacing a file left from an earlier database.
func writeTokensFile(file, pbx, admin string) error {
	if err := os.Remove(file); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("generated tokens: %w", err)
	}
	f, err := os.OpenFile(file, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("generated tokens: %w", err)
	}
	_, err = fmt.Fprintf(f, "# enneo-edge generated these API tokens at %s.\n"+
		"# Only their hashes are kept in the database: copy them where they are\n"+
		"# needed (pbx: the PBX; admin: backups, the status page, /edge/v1), then\n"+
		"# delete this file. To start over, configure auth.tokens.\n"+
		"pbx %s\nadmin %s\n", time.Now().UTC().Format(time.RFC3339), pbx, admin)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(file)
		return fmt.Errorf("generated tokens: %w", err)
	}
	return nil
}

func formatDigests(ds []auth.Digest) string {
	var b strings.Builder
	b.WriteString(storedDigests)
	for _, d := range ds {
		fmt.Fprintf(&b, "%s %s\n", d.Role, hex.EncodeToString(d.Sum[:]))
	}
	return b.String()
}

func parseDigests(s string) ([]auth.Digest, error) {
	var ds []auth.Digest
	for _, line := range strings.Split(strings.TrimPrefix(s, storedDigests), "\n") {
		if line == "" {
			continue
		}
		role, sum, ok := strings.Cut(line, " ")
		r, err := auth.ParseRole(role)
		b, herr := hex.DecodeString(sum)
		if !ok || err != nil || herr != nil || len(b) != 32 {
			return nil, errors.New("stored api token hashes are damaged; configure auth.tokens")
		}
		d := auth.Digest{Role: r}
		copy(d.Sum[:], b)
		ds = append(ds, d)
	}
	return ds, nil
}

// NewAuthenticator accepts the credentials in o plus the JWTs the auth.*
// keys describe (serve and bench's private appliance).
func NewAuthenticator(cfg config.Config, o auth.Options) (*auth.Authenticator, error) {
	o.Issuer = cfg.Auth.JWTIssuer
	o.Audience = cfg.Auth.JWTAudience
	o.Leeway = cfg.Auth.JWTLeeway.Duration
	o.MaxLifetime = cfg.Auth.JWTMaxLifetime.Duration
	if cfg.Auth.JWTSecret != "" {
		o.JWTSecret = []byte(cfg.Auth.JWTSecret)
	}
	if cfg.Auth.JWTPublicKeyFile != "" {
		pem, err := os.ReadFile(cfg.Auth.JWTPublicKeyFile)
		if err != nil {
			return nil, fmt.Errorf("auth.jwt_public_key_file: %w", err)
		}
		o.JWTPublicKeyPEM = pem
	}
	a, err := auth.New(o)
	if err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	return a, nil
}
