package server

import (
	"fmt"
	"strings"
	"testing"
)

func TestCustomerDirectoryAndPhoneIdentification(t *testing.T) {
	e := newEnv(t)
	a := e.do("PUT", "/edge/v1/customers", `{"id":"C-1","contractIds":["K-1"],"phone":"+49 171 1234567","firstname":"Erika","lastname":"Mustermann"}

{"id":2002,"contractIds":[3003,"K-4"],"phones":["030 1234567"],"company":"ACME"}
`)
	if a.code != 200 || a.num("upserted") != 2 {
		t.Fatalf("put customers: %d %s", a.code, a.raw)
	}
	// The three spellings of one number find the same customer.
	for _, spelling := range []string{"0171 1234567", "+49 171 1234567", "004917112345 67"} {
		a := e.call(`{"routing":"native","phone":"` + spelling + `"}`)
		if a.code != 200 || a.str("customerId") != "C-1" || a.str("contractId") != "K-1" {
			t.Errorf("phone %q: %d customer %v contract %v", spelling, a.code, a.body["customerId"], a.body["contractId"])
		}
	}
	tests := []struct{ name, body, customer, contract string }{
		{"unknown number", `{"phone":"+49 89 999999"}`, "", ""},
		{"customer with two contracts: contract stays open", `{"phone":"+49301234567"}`, "2002", ""},
		{"by contractId", `{"contractId":3003,"phone":"0171 1234567"}`, "2002", "3003"},
		{"by customerId beats phone", `{"customerId":"C-1","phone":"+49301234567"}`, "C-1", "K-1"},
		{"unknown customerId is kept", `{"customerId":99,"contractId":"X"}`, "99", "X"},
		{"outbound identifies by to", `{"direction":"out","to":"01711234567","phone":"+49301234567"}`, "C-1", "K-1"},
		{"garbage number", `{"phone":"call me maybe"}`, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := e.call(tc.body)
			if a.code != 200 {
				t.Fatalf("%d %s", a.code, a.raw)
			}
			if got, _ := a.body["customerId"].(string); got != tc.customer {
				t.Errorf("customerId %v, want %q", a.body["customerId"], tc.customer)
			}
			if got, _ := a.body["contractId"].(string); got != tc.contract {
				t.Errorf("contractId %v, want %q", a.body["contractId"], tc.contract)
			}
		})
	}

	if a := e.do("GET", "/edge/v1/customers/2002", ""); a.code != 200 || !strings.Contains(a.raw, `"+49301234567"`) {
		t.Fatalf("get customer: %d %s", a.code, a.raw)
	}
	// Updating a customer moves its phone index.
	if a := e.do("PUT", "/edge/v1/customers", `{"id":"C-1","contractIds":["K-1"],"phone":"+49 40 555"}`); a.code != 200 {
		t.Fatalf("update: %d %s", a.code, a.raw)
	}
	if a := e.call(`{"phone":"0171 1234567"}`); a.body["customerId"] != nil {
		t.Errorf("old number still identifies: %s", a.raw)
	}
	if a := e.do("DELETE", "/edge/v1/customers/C-1", ""); a.code != 200 {
		t.Fatalf("delete: %d %s", a.code, a.raw)
	}
	if a := e.call(`{"phone":"040 555"}`); a.body["customerId"] != nil {
		t.Errorf("deleted customer still identifies: %s", a.raw)
	}
	if a := e.do("GET", "/edge/v1/customers/C-1", ""); a.code != 404 || !strings.Contains(a.str("error"), "not found") {
		t.Errorf("deleted customer: %d %s", a.code, a.raw)
	}
	if a := e.do("DELETE", "/edge/v1/customers/nobody", ""); a.code != 404 {
		t.Errorf("delete unknown: %d %s", a.code, a.raw)
	}
}

func TestPutCustomersBadLines(t *testing.T) {
	e := newEnv(t)
	a := e.do("PUT", "/edge/v1/customers", `{"id":"ok-1","contractIds":["K"],"phone":"+4930111"}
{"id":"bad","phone":"not a number"}
{broken
{"contractIds":["K"]}
{"id":"nobody-finds-me"}`)
	if a.code != 400 {
		t.Fatalf("%d %s", a.code, a.raw)
	}
	for _, part := range []string{"line 2: phone", "line 3: invalid JSON", "line 4: id: required", "line 5: phone: missing"} {
		if !strings.Contains(a.str("error"), part) {
			t.Errorf("error %q lacks %q", a.str("error"), part)
		}
	}
	if a := e.do("GET", "/edge/v1/customers/ok-1", ""); a.code != 404 {
		t.Errorf("a refused body was partly written: %d", a.code)
	}
	if a := e.do("PUT", "/edge/v1/customers", "\n\n"); a.code != 400 || !strings.Contains(a.str("error"), "no customers") {
		t.Errorf("empty body: %d %s", a.code, a.raw)
	}
}

// A running server takes the CSV file `enneo-edge import` reads, all or
// nothing like JSON Lines.
func TestPutCustomersCSV(t *testing.T) {
	e := newEnv(t)
	csv := func(body string) answer {
		return e.do("PUT", "/edge/v1/customers", body, "Authorization", "Bearer "+testToken, "Content-Type", "text/csv; charset=utf-8")
	}
	a := csv("id,phone,lastname\nC-1,0171 1234567,Muster\nC-2,\"+49 30 12345678\",\"O\"\"Neil\"\n")
	if a.code != 200 || fmt.Sprint(a.body["upserted"]) != "2" {
		t.Fatalf("csv: %d %s", a.code, a.raw)
	}
	if a := e.do("GET", "/edge/v1/customers/C-2", ""); a.code != 200 || !strings.Contains(a.raw, `O\"Neil`) {
		t.Errorf("C-2: %d %s", a.code, a.raw)
	}
	a = csv("id,phone,lastname\nC-3,0171 1234567,\"open\nC-4,0171 7654321\nC-5,,x\nC-6,030 1234,ok\n")
	if a.code != 400 {
		t.Fatalf("bad csv: %d %s", a.code, a.raw)
	}
	for _, part := range []string{"line 2: field 3: quoted field not closed", "line 3: 2 columns, the header has 3", "line 4: phone: missing"} {
		if !strings.Contains(a.str("error"), part) {
			t.Errorf("error %q lacks %q", a.str("error"), part)
		}
	}
	if a := e.do("GET", "/edge/v1/customers/C-6", ""); a.code != 404 {
		t.Errorf("a refused CSV body was partly written: %d", a.code)
	}
	if a := csv("name\nx\n"); a.code != 400 || !strings.Contains(a.str("error"), "no id column") {
		t.Errorf("csv without id: %d %s", a.code, a.raw)
	}
}

func TestTicketRoute(t *testing.T) {
	e := newEnv(t)
	for path, want := range map[string]int{"/edge/v1/tickets/abc": 400, "/edge/v1/tickets/-1": 400, "/edge/v1/tickets/1000700000000999": 404} {
		if a := e.do("GET", path, ""); a.code != want || a.body["success"] != false {
			t.Errorf("%s: %d %s, want %d", path, a.code, a.raw, want)
		}
	}
	e.loginAgent(99) // native calls wait only while someone is logged in
	a := e.call(`{"routing":"native","channelId":"c-1","triggeredBy":3}`)
	tk, q := e.ticket(a.num("ticketId"))
	if tk["forwarding"].(map[string]any)["state"] != "pending" {
		t.Errorf("forwarding %v", tk["forwarding"])
	}
	if q["createdAt"] == nil || num(q["ticketId"]) != a.num("ticketId") || q["channel"] != "phone" {
		t.Errorf("queue entry %v", q)
	}
	types := []string{}
	for _, ev := range tk["events"].([]any) {
		types = append(types, ev.(map[string]any)["type"].(string))
	}
	if strings.Join(types, ",") != "ticketCreated,queueEntryCreated" {
		t.Errorf("events %v", types)
	}
}

func TestLimitsAndRouting(t *testing.T) {
	e := newEnv(t, func(_ *authOptions, l *Limits) { l.MaxBodyBytes = 4096 })
	a := e.call(`{"callerName":"` + strings.Repeat("x", 8000) + `"}`)
	if a.code != 413 || !strings.Contains(a.str("error"), "body: larger than the limit of 4096 bytes") {
		t.Errorf("huge body: %d %s", a.code, a.raw)
	}
	if a := e.do("GET", "/api/mind/telephony/callReceived", ""); a.code != 405 {
		t.Errorf("GET callReceived: %d %s", a.code, a.raw)
	}
	if a := e.do("GET", "/nowhere", ""); a.code != 404 || a.body["success"] != false {
		t.Errorf("unknown route: %d %s", a.code, a.raw)
	}
	big := e.do("POST", "/api/mind/telephony/callReceived", `{}`, "Authorization", "Bearer "+testToken, "Cookie", "pad="+strings.Repeat("p", 8000))
	if big.code != 200 {
		t.Errorf("8 KB of cookies beside a token must fit the header buffer: %d %s", big.code, big.raw)
	}
	if a := e.do("GET", "/edge/v1/outbox", ""); a.code != 200 || a.body["outbox"] == nil {
		t.Errorf("outbox: %d %s", a.code, a.raw)
	}
}
