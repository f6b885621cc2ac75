// Package bench is the load generator behind `enneo-edge bench`: it sends
// callReceived requests to any server that speaks the enneo telephony API
// on a fixed schedule (open model: a slow answer never delays the requests
// after it, and latency is measured from the moment a request was due, so
// coordinated omission cannot hide queueing), records latency in an HDR
// histogram and reports percentiles, throughput and errors by kind, as
// text, JSON and an SVG percentile plot.
package bench
