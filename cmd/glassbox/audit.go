package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/glassbox-ledger/glassbox/transparency"
)

func runAudit(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	sub := map[string]func(context.Context, []string, io.Writer, io.Writer) error{
		"verify-receipt": runVerifyReceipt,
		"monitor":        runMonitor,
		"replay":         runReplay,
		"report":         runReport,
		"fairness":       runFairness,
	}
	if len(args) == 0 || sub[args[0]] == nil {
		fmt.Fprintln(stderr, "usage: glassbox audit verify-receipt --key KEY [--witness-key VKEY ... --witness-quorum N] [--record FILE [--salt HEX]] [--decision-id ID] FILE\n"+
			"       glassbox audit monitor --server URL --key KEY [--state FILE] [--api-key KEY [--psi-threshold X] [--drift-min N] [--models DIR] [--policy DIR]] [--interval D --count N] [--lifecycle [--as-of T]]\n"+
			"       glassbox audit replay --server URL --key KEY [--from N --to M] [--models DIR] [--policy DIR]\n"+
			"       "+reportUsage+"\n       "+fairnessUsage)
		return fmt.Errorf("%w: audit needs a subcommand", errUsage)
	}
	return sub[args[0]](ctx, args[1:], stdout, stderr)
}

// Receipt is what an applicant or lender keeps to check a decision offline:
// the exact ledger record, its inclusion proof and the signed checkpoint the
// proof leads to. It is the body of GET /v1/decisions/{id}/proof.
type Receipt struct {
	DecisionID string `json:"decision_id,omitempty"`
	Record     string `json:"record"`
	// CommittedRecord (base64) and Salt (hex) open a format 2 leaf's
	// commitment; absent for format 1, where the leaf is the record.
	LeafFormat      int      `json:"leaf_format,omitempty"`
	CommittedRecord string   `json:"committed_record,omitempty"`
	Salt            string   `json:"salt,omitempty"`
	LeafIndex       uint64   `json:"leaf_index"`
	TreeSize        uint64   `json:"tree_size"`
	Hashes          []string `json:"hashes"`
	Checkpoint      string   `json:"checkpoint"`
	// Erased: the decision's record was erased; ErasureRecord names the
	// erasure record (its leaf bytes, in clear).
	Erased        bool `json:"erased,omitempty"`
	ErasureRecord *struct {
		ID     string `json:"id"`
		Record string `json:"record"`
	} `json:"erasure_record,omitempty"`
}

func runVerifyReceipt(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("audit verify-receipt", stderr)
	key := fs.String("key", "", "the ledger's note verifier key (GET /v1/ledger/public-key)")
	var wit witnessPolicy
	wit.register(fs)
	if err := parseFlags(fs, args, 1); err != nil {
		return err
	}
	if *key == "" || fs.NArg() != 1 {
		return fmt.Errorf("%w: --key and a receipt FILE are required", errUsage)
	}
	data, err := os.ReadFile(fs.Arg(0))
	if err != nil {
		return err
	}
	if isTLogProof(data) {
		return verifyTLogProofFile(data, *key, &wit, stdout)
	}
	var r Receipt
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&r); err != nil {
		return fmt.Errorf("receipt: %w", err)
	}
	if err := wit.checkJSONReceipt(&r, *key); err != nil {
		if errors.Is(err, errUsage) {
			return err
		}
		return fmt.Errorf("receipt does NOT verify: %w", err)
	}
	id, err := verifyReceipt(&r, *key)
	if err != nil {
		return fmt.Errorf("receipt does NOT verify: %w", err)
	}
	fmt.Fprintf(stdout, "verified: decision %s is leaf %d of the log of size %d, checkpoint signed by %s\n",
		id, r.LeafIndex, r.TreeSize, keyName(*key))
	if r.Erased {
		msg, err := describeErasure(&r, id)
		if err != nil {
			return fmt.Errorf("receipt does NOT verify: %w", err)
		}
		fmt.Fprintln(stdout, msg)
	} else if wit.record != "" {
		fmt.Fprintf(stdout, "verified: the record in %s is the one the leaf commits to\n", wit.record)
	} else if r.CommittedRecord != "" {
		fmt.Fprintln(stdout, "verified: the record in the receipt is the one the leaf commits to")
	} else if transparency.LeafFormat(mustBase64(r.Record)) == transparency.EnvelopeFormat {
		fmt.Fprintln(stdout, "the leaf is a commitment and the receipt carries no record: only the leaf is verified")
	}
	return nil
}

// verifyReceipt checks, with no help from glassbox, that the record is in
// the log whose root the signed checkpoint states. It returns the id.
func verifyReceipt(r *Receipt, key string) (string, error) {
	record, err := base64.StdEncoding.DecodeString(r.Record)
	if err != nil || len(record) == 0 {
		return "", fmt.Errorf("record is not base64: %v", err)
	}
	var salt, committed []byte
	if r.CommittedRecord != "" {
		if committed, err = base64.StdEncoding.DecodeString(r.CommittedRecord); err != nil {
			return "", fmt.Errorf("committed_record is not base64: %w", err)
		}
		if salt, err = hex.DecodeString(r.Salt); err != nil {
			return "", fmt.Errorf("salt is not hex: %w", err)
		}
	}
	v, err := transparency.NewLeafVerifier(key)
	if err != nil {
		return "", err
	}
	if _, err := transparency.OpenLeaf(record, salt, committed, v); err != nil {
		return "", fmt.Errorf("record: %w", err)
	}
	leaf := rfc6962.DefaultHasher.HashLeaf(record)
	id := hex.EncodeToString(leaf)
	if r.DecisionID != "" && r.DecisionID != id {
		return "", fmt.Errorf("decision id %s is not the record's leaf hash %s", r.DecisionID, id)
	}
	cp, err := transparency.OpenCheckpoint([]byte(r.Checkpoint), key, "")
	if err != nil {
		return "", fmt.Errorf("checkpoint: %w", err)
	}
	if cp.Size != r.TreeSize {
		return "", fmt.Errorf("proof is for tree size %d, checkpoint is for %d", r.TreeSize, cp.Size)
	}
	hashes, err := decodeHashes(r.Hashes)
	if err != nil {
		return "", err
	}
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, r.LeafIndex, r.TreeSize, leaf, hashes, cp.Root); err != nil {
		return "", fmt.Errorf("inclusion proof: %w", err)
	}
	return id, nil
}

// describeErasure checks that the receipt's erasure record is an erasure
// of decision id and says so; the erasure record's own place in the log
// is for the log to show (GET /v1/ledger/entries, its id).
func describeErasure(r *Receipt, id string) (string, error) {
	if r.ErasureRecord == nil {
		return "erased: the decision's record was erased; the receipt names no erasure record. Only the leaf is verified", nil
	}
	data, err := base64.StdEncoding.DecodeString(r.ErasureRecord.Record)
	if err != nil {
		return "", fmt.Errorf("erasure record is not base64: %w", err)
	}
	rec, err := transparency.DecodeRecord(data)
	switch {
	case err != nil:
		return "", fmt.Errorf("erasure record: %w", err)
	case rec.Type != transparency.TypeErasure || rec.Erasure.DecisionID != id:
		return "", fmt.Errorf("the erasure record is no erasure of decision %s", id)
	case transparency.RecordID(data).String() != r.ErasureRecord.ID:
		return "", fmt.Errorf("erasure record id %s is not its leaf hash %s", r.ErasureRecord.ID, transparency.RecordID(data))
	}
	return fmt.Sprintf("erased: the decision's record was erased (crypto-shredded) on %s under %q, erasure record %s; the leaf and its inclusion proof still verify",
		rec.Timestamp.UTC().Format(time.RFC3339), rec.Erasure.LegalBasis, r.ErasureRecord.ID), nil
}

// mustBase64 decodes s, or returns nil.
func mustBase64(s string) []byte {
	b, _ := base64.StdEncoding.DecodeString(s)
	return b
}

func decodeHashes(in []string) ([][]byte, error) {
	out := make([][]byte, len(in))
	for i, h := range in {
		b, err := hex.DecodeString(h)
		if err != nil || len(b) != rfc6962.DefaultHasher.Size() {
			return nil, fmt.Errorf("proof hash %d is not 32 bytes of hex", i)
		}
		out[i] = b
	}
	return out, nil
}

func keyName(key string) string {
	name, _, _ := strings.Cut(key, "+")
	return name
}

// monitorState is what monitor remembers between runs: the last checkpoint
// it verified.
type monitorState struct {
	Size       uint64 `json:"size"`
	Root       string `json:"root"`
	Checkpoint string `json:"checkpoint"`
}

// errInconsistent marks a ledger whose history was rewritten.
var errInconsistent = errors.New("ledger history is INCONSISTENT")

func runMonitor(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("audit monitor", stderr)
	server := fs.String("server", "", "glassbox base URL")
	key := fs.String("key", "", "the ledger's note verifier key")
	statePath := fs.String("state", "", "file remembering the last verified checkpoint (created if missing)")
	apiKey := fs.String("api-key", os.Getenv("GLASSBOX_API_KEY"), "regulator API key, for consistency proofs (default $GLASSBOX_API_KEY)")
	interval := fs.Duration("interval", 10*time.Second, "time between checks when --count > 1")
	count := fs.Int("count", 1, "number of checks (0 = until interrupted)")
	life := lifecycleFlags(fs)
	newEntries := newEntryCheckFlags(fs)
	if err := parseFlags(fs, args, 0); err != nil {
		return err
	}
	if *server == "" || *key == "" {
		return fmt.Errorf("%w: --server and --key are required", errUsage)
	}
	c := &apiClient{base: strings.TrimRight(*server, "/"), key: *apiKey, http: &http.Client{Timeout: 30 * time.Second}}
	checks, err := newEntries.prepare(ctx, *key)
	if err != nil {
		return err
	}
	var last *monitorState
	if *statePath != "" {
		if data, err := os.ReadFile(*statePath); err == nil {
			last = &monitorState{}
			if err := json.Unmarshal(data, last); err != nil {
				return fmt.Errorf("state file %s: %w", *statePath, err)
			}
		} else if !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	// Findings among the new entries do not stop the monitor: they are
	// printed, the state moves past the entries judged (so each is
	// reported once), and the run exits non-zero at its end. A history
	// that does not verify stops it at once.
	var findings []error
	for i := 0; *count == 0 || i < *count; i++ {
		if i > 0 {
			select {
			case <-ctx.Done():
				return errors.Join(findings...)
			case <-time.After(*interval):
			}
		}
		next, err := monitorOnce(ctx, c, *key, last)
		if err != nil {
			return err
		}
		if c.key != "" {
			from := uint64(0)
			if last != nil {
				from = last.Size
			}
			// Foreign leaves, missing records and score drift among the
			// new entries (their records need the API key).
			found, err := checks.check(ctx, c, from, next.Size, stdout)
			if err != nil {
				return err
			}
			findings = append(findings, found...)
		}
		if last == nil || next.Size != last.Size {
			fmt.Fprintf(stdout, "ok: checkpoint size %d root %s verified", next.Size, next.Root)
			if last != nil {
				fmt.Fprintf(stdout, ", consistent with size %d", last.Size)
			}
			fmt.Fprintln(stdout)
			if last != nil {
				if err := reportErasures(ctx, c, last.Size, next.Size, stdout); err != nil {
					return err
				}
			}
		} else {
			fmt.Fprintf(stdout, "ok: size %d unchanged\n", next.Size)
		}
		if err := life.report(ctx, c, next, *key, stdout); err != nil {
			return err
		}
		last = next
		if *statePath != "" {
			data, _ := json.MarshalIndent(last, "", "  ")
			if err := os.WriteFile(*statePath, data, 0o600); err != nil {
				return err
			}
		}
	}
	return errors.Join(findings...)
}

// monitorOnce fetches and verifies the latest checkpoint and, when a
// previous one is known, that the log only grew from it.
func monitorOnce(ctx context.Context, c *apiClient, key string, last *monitorState) (*monitorState, error) {
	body, err := c.get(ctx, "/log/checkpoint", nil)
	if err != nil {
		return nil, err
	}
	cp, err := transparency.OpenCheckpoint(body, key, "")
	if err != nil {
		return nil, fmt.Errorf("checkpoint signature: %w", err)
	}
	next := &monitorState{Size: cp.Size, Root: base64.StdEncoding.EncodeToString(cp.Root), Checkpoint: string(body)}
	if last == nil {
		return next, nil
	}
	lastRoot, err := base64.StdEncoding.DecodeString(last.Root)
	if err != nil {
		return nil, fmt.Errorf("state: root: %w", err)
	}
	switch {
	case cp.Size < last.Size:
		return nil, fmt.Errorf("%w: the tree shrank from %d to %d", errInconsistent, last.Size, cp.Size)
	case cp.Size == last.Size:
		if !bytes.Equal(cp.Root, lastRoot) {
			return nil, fmt.Errorf("%w: two checkpoints of size %d with different roots (%s and %s): a forked history",
				errInconsistent, cp.Size, last.Root, next.Root)
		}
		return next, nil
	}
	if last.Size == 0 {
		return next, nil
	}
	// The tile API proves the new tree extends the old one, and serves
	// the entries in between, each checked against the new tree.
	if err := (&tileLogReader{c: c}).followConsistent(ctx, last.Size, lastRoot, cp); err != nil {
		return nil, err
	}
	return next, nil
}

// apiClient is a small client of glassbox's HTTP API for the audit tools.
type apiClient struct {
	base, key string
	http      *http.Client
	// fetched and requests count the body bytes read and the requests
	// made, so audits can say what they cost.
	fetched, requests int64
}

func (c *apiClient) get(ctx context.Context, path string, q url.Values) ([]byte, error) {
	u := c.base + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	if c.key != "" {
		req.Header.Set("Authorization", "Bearer "+c.key)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	c.fetched += int64(len(body))
	c.requests++
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s: %s", path, resp.Status, bytes.TrimSpace(body))
	}
	return body, nil
}

// reportErasures lists the erasure records among the leaves [from, to)
// the monitor has just verified the log grew by: an erased decision is
// reported as erased, with the record that says when and why, never as
// missing.
func reportErasures(ctx context.Context, c *apiClient, from, to uint64, stdout io.Writer) error {
	leaves, _, err := fetchLeaves(ctx, c, from, to)
	if err != nil {
		return fmt.Errorf("reading the new leaves: %w", err)
	}
	for i, data := range leaves {
		if transparency.LeafFormat(data) != transparency.RecordFormat {
			continue
		}
		rec, err := transparency.DecodeRecord(data)
		if err != nil || rec.Type != transparency.TypeErasure {
			continue
		}
		fmt.Fprintf(stdout, "erasure: decision %s erased on %s under %q (erasure record %s, leaf %d)\n",
			rec.Erasure.DecisionID, rec.Timestamp.UTC().Format(time.RFC3339), rec.Erasure.LegalBasis, transparency.RecordID(data), from+uint64(i))
	}
	return nil
}
