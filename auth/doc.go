// Package auth decides whether a request to enneo-edge carries valid
// credentials.
//
// enneo-edge answers the enneo telephony API beside a PBX, so it has to accept
// the same ways of authenticating that enneo clients already use:
//
//   - the x-internal-communication-token header (service-to-service calls),
//   - the connect.sid session cookie (browser clients),
//   - an Authorization: Bearer header carrying either a static API token or a
//     JWT signed with a configured HS256 secret or RS256/ES256/EdDSA public key.
//
// Every credential carries a Role (pbx, admin, metrics, viewer): static
// tokens are configured with one, generated tokens are known only by their
// SHA-256 and role (Digest), and a JWT names its role in the "role" claim.
// JWTs follow RFC 8725: exp is required and bounded by a maximum lifetime,
// iss/aud are checked when configured, crit is refused and typ checked.
//
// The package is framework-independent: the HTTP server copies the raw header
// values into a Credentials value and calls Authenticator.Authenticate, then
// checks the role against the route's with Role.Allows. The static
// token path is allocation-free because it runs on every request; tokens are
// kept only as SHA-256 digests so the plaintext never stays in memory.
package auth
