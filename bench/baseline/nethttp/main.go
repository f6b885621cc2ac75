// Command nethttp is the plain approach a Go programmer writes first for
// callReceived: net/http, encoding/json, and one bbolt Update (so one
// fsynced commit) per call storing the ticket, its channelId index entry
// and an outbox record. It is the baseline enneo-edge is measured against.
//
//	go run ./bench/baseline/nethttp -listen 127.0.0.1:0 -db /tmp/plain.db
package main

import (
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	bolt "go.etcd.io/bbolt"
)

type transcriptEntry struct {
	Speaker   string `json:"speaker"`
	Message   string `json:"message"`
	Timestamp string `json:"timestamp,omitempty"`
}

type call struct {
	Routing             string            `json:"routing"`
	Direction           string            `json:"direction"`
	Status              string            `json:"status,omitempty"`
	TriggerAIProcessing *bool             `json:"triggerAiProcessing,omitempty"`
	Phone               string            `json:"phone,omitempty"`
	To                  string            `json:"to,omitempty"`
	AgentID             int64             `json:"agentId,omitempty"`
	UserID              int64             `json:"userId,omitempty"`
	SubchannelID        int64             `json:"subchannelId,omitempty"`
	ChannelID           string            `json:"channelId,omitempty"`
	CallerName          string            `json:"callerName,omitempty"`
	Transcript          []transcriptEntry `json:"transcript,omitempty"`
}

type ticket struct {
	ID        int64     `json:"id"`
	Call      call      `json:"call"`
	CreatedAt time.Time `json:"createdAt"`
}

type answer struct {
	Success    bool    `json:"success"`
	TicketID   int64   `json:"ticketId"`
	ContractID *string `json:"contractId"`
	CustomerID *string `json:"customerId"`
	IOResponse string  `json:"ioResponse"`
	QueueID    int64   `json:"queueId,omitempty"`
}

var (
	bucketTickets  = []byte("tickets")
	bucketChannels = []byte("channels")
	bucketOutbox   = []byte("outbox")
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8007", "address to listen on (port 0 picks a free one)")
	path := flag.String("db", "plain.db", "bbolt file")
	flag.Parse()
	db, err := bolt.Open(*path, 0o600, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "nethttp:", err)
		os.Exit(1)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketTickets, bucketChannels, bucketOutbox} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "nethttp:", err)
		os.Exit(1)
	}
	http.HandleFunc("POST /api/mind/telephony/callReceived", func(w http.ResponseWriter, r *http.Request) {
		var c call
		if err := json.NewDecoder(r.Body).Decode(&c); err != nil {
			http.Error(w, `{"success":false,"error":"body: `+err.Error()+`"}`, http.StatusBadRequest)
			return
		}
		var a answer
		err := db.Update(func(tx *bolt.Tx) error {
			chans := tx.Bucket(bucketChannels)
			if id := chans.Get([]byte(c.ChannelID)); c.ChannelID != "" && id != nil {
				a.TicketID = int64(binary.BigEndian.Uint64(id))
				return nil
			}
			tickets := tx.Bucket(bucketTickets)
			seq, _ := tickets.NextSequence()
			t := ticket{ID: int64(seq), Call: c, CreatedAt: time.Now()}
			key := binary.BigEndian.AppendUint64(nil, seq)
			buf, err := json.Marshal(t)
			if err != nil {
				return err
			}
			if err := tickets.Put(key, buf); err != nil {
				return err
			}
			if err := chans.Put([]byte(c.ChannelID), key); err != nil {
				return err
			}
			out := tx.Bucket(bucketOutbox)
			oseq, _ := out.NextSequence()
			if err := out.Put(binary.BigEndian.AppendUint64(nil, oseq), buf); err != nil {
				return err
			}
			a.TicketID = t.ID
			if c.Routing == "native" {
				a.QueueID = t.ID
			}
			return nil
		})
		if err != nil {
			http.Error(w, `{"success":false,"error":"database"}`, http.StatusInternalServerError)
			return
		}
		a.Success = true
		a.IOResponse = "None, as routing is not external"
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(a)
	})
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, "nethttp:", err)
		os.Exit(1)
	}
	fmt.Printf("nethttp baseline listening on http://%s (database %s)\n", ln.Addr(), *path)
	if err := http.Serve(ln, nil); err != nil {
		fmt.Fprintln(os.Stderr, "nethttp:", err)
		os.Exit(1)
	}
}
