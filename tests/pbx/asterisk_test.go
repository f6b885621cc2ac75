package pbx

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestAsteriskReplay replays the HTTP exchanges of
// integrations/asterisk/extensions-enneo.conf against a real edge, as
// func_curl makes them and func_json reads them: the bodies, headers and
// timeouts are read from the file itself, so the test follows the dialplan
// (and fails when the lines it relies on change).
func TestAsteriskReplay(t *testing.T) {
	dir := t.TempDir()
	e := startEdge(t, filepath.Join(dir, "edge"), token)
	dp := readDialplan(t)
	ast := dp.channel(t, map[string]string{
		"ENNEO_PRIMARY": closedTCPURL(t), "ENNEO_SECONDARY": e.URL, "ENNEO_TOKEN": token,
		"UNIQUEID": "1733071234.42", "CALLERID(num)": `+49 30 "555" 0100`,
	})

	// callReceived, the first edge down: the second answers.
	ast.lookup(t)
	if ast.vars["ENNEO_TICKET"] == "" {
		t.Fatalf("no ticket after the lookup: answer %q", ast.vars["ENNEO_ANSWER"])
	}
	v := getTicket(t, e, ast.vars["ENNEO_TICKET"])
	if v.Ticket.ChannelID != "1733071234.42" || v.Ticket.From != "+49305550100" {
		t.Errorf("ticket: channelId %q from %q", v.Ticket.ChannelID, v.Ticket.From)
	}

	// The agent's leg (enneo-agent), user ID from AstDB.
	ast.vars["ENNEO_USER"] = "42"
	ast.post(t, dp.body(t, "enneo-agent"), "/api/mind/telephony/agentConnected")
	// The hangup handler.
	ast.vars["EPOCH"] = strconv.FormatInt(time.Now().Unix()+95, 10)
	ast.post(t, dp.body(t, "enneo-hangup"), "/api/mind/telephony/callCompleted")
	v = getTicket(t, e, ast.vars["ENNEO_TICKET"])
	if v.Ticket.AgentID == nil || *v.Ticket.AgentID != 42 || !v.has("callCompleted") {
		t.Errorf("after agentConnected and callCompleted: agent %v, events %v", v.Ticket.AgentID, v.Ticket.Events)
	}

	// Native routing: an idle agent with an extension gets the call;
	// getRouting names the extension the dialplan dials.
	must(t, e, "PUT", "/edge/v1/agents/7", `{"name":"Ada","rawData":{"extension":"1001"}}`)
	must(t, e, "PATCH", "/api/mind/profile/7/routingStatus", `{"callRoutingStatus":"idle"}`)
	nat := dp.channel(t, map[string]string{
		"ENNEO_PRIMARY": e.URL, "ENNEO_SECONDARY": e.URL, "ENNEO_TOKEN": token, "ENNEO_ROUTING": "native",
		"UNIQUEID": "1733071234.43", "CALLERID(num)": "0301234567",
	})
	nat.lookup(t)
	if nat.vars["ENNEO_QUEUE_ID"] == "" {
		t.Fatalf("native: no queueId in %q", nat.vars["ENNEO_ANSWER"])
	}
	answer := nat.curl(t, dp.getRoutingURL(t, nat), "")
	if s := jsonDecode(t, answer, "status"); s != "assigned" {
		t.Fatalf("getRouting status %q in %s", s, answer)
	}
	if ext := jsonDecode(t, answer, "assignedUserRawData.extension"); ext != "1001" {
		t.Errorf("assignedUserRawData.extension = %q in %s", ext, answer)
	}

	// A wrong token on both edges: no ticket, the call fails open.
	bad := dp.channel(t, map[string]string{
		"ENNEO_PRIMARY": e.URL, "ENNEO_SECONDARY": e.URL, "ENNEO_TOKEN": "wrong-token-0123456789",
		"UNIQUEID": "1733071234.44", "CALLERID(num)": "100",
	})
	bad.lookup(t)
	if bad.vars["ENNEO_TICKET"] != "" {
		t.Errorf("wrong token: ticket %q", bad.vars["ENNEO_TICKET"])
	}
}

// dialplan is extensions-enneo.conf by context.
type dialplan struct {
	contexts map[string][]string
}

func readDialplan(t *testing.T) *dialplan {
	t.Helper()
	b, err := os.ReadFile("../../integrations/asterisk/extensions-enneo.conf")
	if err != nil {
		t.Fatal(err)
	}
	dp := &dialplan{contexts: map[string][]string{}}
	ctx := ""
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if i := strings.Index(line, ";"); i >= 0 {
			line = strings.TrimSpace(line[:i])
		}
		if strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]") {
			ctx = line[1 : len(line)-1]
			continue
		}
		if line != "" {
			dp.contexts[ctx] = append(dp.contexts[ctx], line)
		}
	}
	return dp
}

// line returns the one line of ctx containing want.
func (dp *dialplan) line(t *testing.T, ctx, want string) string {
	t.Helper()
	var found []string
	for _, l := range dp.contexts[ctx] {
		if strings.Contains(l, want) {
			found = append(found, l)
		}
	}
	if len(found) != 1 {
		t.Fatalf("[%s]: %d lines with %q, want 1", ctx, len(found), want)
	}
	return found[0]
}

// body is the JSON template ctx puts into ENNEO_BODY.
func (dp *dialplan) body(t *testing.T, ctx string) string {
	t.Helper()
	l := dp.line(t, ctx, "Set(ENNEO_BODY=")
	return strings.TrimSuffix(l[strings.Index(l, "Set(ENNEO_BODY=")+len("Set(ENNEO_BODY="):], ")")
}

func (dp *dialplan) getRoutingURL(t *testing.T, ch *channel) string {
	t.Helper()
	l := dp.line(t, "enneo-native", "getRouting")
	m := regexp.MustCompile(`\$\{CURL\(([^,]*?)\)\}\)$`).FindStringSubmatch(l)
	if m == nil {
		t.Fatalf("getRouting line %q", l)
	}
	return ch.subst(t, m[1])
}

// channel is one Asterisk channel's variables and CURLOPT settings.
type channel struct {
	dp      *dialplan
	vars    map[string]string
	headers []string
	connect time.Duration
	total   time.Duration
}

// channel starts a channel with [globals] and the given variables, and
// reads the CURLOPT settings [enneo-post] applies.
func (dp *dialplan) channel(t *testing.T, vars map[string]string) *channel {
	t.Helper()
	ch := &channel{dp: dp, vars: map[string]string{}}
	for _, l := range dp.contexts["globals"] {
		if k, v, ok := strings.Cut(l, "="); ok {
			ch.vars[k] = v
		}
	}
	for k, v := range vars {
		ch.vars[k] = v
	}
	seconds := func(opt string) time.Duration {
		prefix := "Set(CURLOPT(" + opt + ")="
		l := dp.line(t, "enneo-post", prefix)
		f, err := strconv.ParseFloat(strings.TrimSuffix(l[strings.Index(l, prefix)+len(prefix):], ")"), 64)
		if err != nil || f <= 0 {
			t.Fatalf("CURLOPT(%s) in %q: %v (func_curl default: no limit)", opt, l, err)
		}
		return time.Duration(f * float64(time.Second))
	}
	ch.connect, ch.total = seconds("conntimeout"), seconds("httptimeout")
	for _, l := range dp.contexts["enneo-post"] {
		if i := strings.Index(l, "Set(CURLOPT(httpheader)="); i >= 0 {
			ch.headers = append(ch.headers, ch.subst(t, strings.TrimSuffix(l[i+len("Set(CURLOPT(httpheader)="):], ")")))
		}
	}
	return ch
}

var (
	varRef  = regexp.MustCompile(`\$\{([A-Za-z_()]+)\}`)
	minus   = regexp.MustCompile(`\$\[(-?\d+) - (-?\d+)\]`)
	nonDial = regexp.MustCompile(`[^+0-9]`)
)

// subst expands ${VAR} and $[a - b] as Asterisk does for these lines.
func (ch *channel) subst(t *testing.T, s string) string {
	t.Helper()
	s = varRef.ReplaceAllStringFunc(s, func(ref string) string {
		name := ref[2 : len(ref)-1]
		v, ok := ch.vars[name]
		if !ok {
			t.Fatalf("variable %s is not set in the replay", name)
		}
		return v
	})
	return minus.ReplaceAllStringFunc(s, func(e string) string {
		m := minus.FindStringSubmatch(e)
		a, _ := strconv.Atoi(m[1])
		b, _ := strconv.Atoi(m[2])
		return strconv.Itoa(a - b)
	})
}

// lookup is [enneo-inbound] up to the queue: callReceived and the answer's
// variables.
func (ch *channel) lookup(t *testing.T) {
	t.Helper()
	dp := ch.dp
	dp.line(t, "enneo-inbound", "Set(__ENNEO_CHANNEL=${UNIQUEID})")
	ch.vars["ENNEO_CHANNEL"] = ch.vars["UNIQUEID"]
	dp.line(t, "enneo-inbound", "Set(ENNEO_PHONE=${FILTER(+0123456789,${CALLERID(num)})})")
	ch.vars["ENNEO_PHONE"] = nonDial.ReplaceAllString(ch.vars["CALLERID(num)"], "")
	ch.vars["EPOCH"] = strconv.FormatInt(time.Now().Unix(), 10)
	ch.vars["ENNEO_START"] = ch.vars["EPOCH"]
	ch.post(t, dp.body(t, "enneo-inbound"), "/api/mind/telephony/callReceived")
	for v, key := range map[string]string{"ENNEO_TICKET": "ticketId", "ENNEO_CUSTOMER": "customerId", "ENNEO_QUEUE_ID": "queueId"} {
		dp.line(t, "enneo-inbound", "Set(__"+v+"=${JSON_DECODE(ENNEO_ANSWER,"+key+")})")
		ch.vars[v] = jsonDecode(t, ch.vars["ENNEO_ANSWER"], key)
	}
}

// post is Gosub(enneo-post,s,1(path)) with ENNEO_BODY set from template.
func (ch *channel) post(t *testing.T, template, path string) {
	t.Helper()
	dp := ch.dp
	ch.vars["ENNEO_BODY"] = ch.subst(t, template)
	dp.line(t, "enneo-post", "Set(ENNEO_ANSWER=${CURL(${ENNEO_PRIMARY}${ARG1},${ENNEO_BODY})})")
	dp.line(t, "enneo-post", `ExecIf($["${ENNEO_ANSWER}" != "" & "${JSON_DECODE(ENNEO_ANSWER,error)}" = ""]?Return())`)
	dp.line(t, "enneo-post", "Set(ENNEO_ANSWER=${CURL(${ENNEO_SECONDARY}${ARG1},${ENNEO_BODY})})")
	answer := ch.curl(t, ch.vars["ENNEO_PRIMARY"]+path, ch.vars["ENNEO_BODY"])
	if answer == "" || jsonDecode(t, answer, "error") != "" {
		answer = ch.curl(t, ch.vars["ENNEO_SECONDARY"]+path, ch.vars["ENNEO_BODY"])
	}
	ch.vars["ENNEO_ANSWER"] = answer
}

// curl is CURL(url[,postdata]) with the channel's CURLOPT settings: a POST
// when there is post data, the body of any answer, "" on failure.
func (ch *channel) curl(t *testing.T, target, postdata string) string {
	t.Helper()
	method := "GET"
	if postdata != "" {
		method = "POST"
	}
	req, err := http.NewRequest(method, target, bytes.NewReader([]byte(postdata)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("User-Agent", "asterisk-libcurl-agent/1.0")
	for _, h := range ch.headers {
		name, value, ok := strings.Cut(h, ": ")
		if !ok {
			t.Fatalf("httpheader %q", h)
		}
		req.Header.Add(name, value)
	}
	client := &http.Client{
		Timeout:   ch.total,
		Transport: &http.Transport{DialContext: (&net.Dialer{Timeout: ch.connect}).DialContext},
	}
	resp, err := client.Do(req)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// jsonDecode is JSON_DECODE(var,key): the value at a "."-separated path,
// strings as they are, numbers in decimal, null or missing as "".
func jsonDecode(t *testing.T, doc, path string) string {
	t.Helper()
	if doc == "" {
		return ""
	}
	d := json.NewDecoder(strings.NewReader(doc))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return ""
	}
	for _, k := range strings.Split(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return ""
		}
		v = m[k]
	}
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case json.Number:
		return x.String()
	default:
		b, _ := json.Marshal(x)
		return string(b)
	}
}

func must(t *testing.T, e *edge, method, path, body string) {
	t.Helper()
	if code, b := e.do(t, method, path, []byte(body)); code != 200 {
		t.Fatalf("%s %s: %d %s", method, path, code, b)
	}
}
