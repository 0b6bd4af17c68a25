package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// The decoder walks the yaml.Node tree against Site by reflection, using
// the yaml tags for the key names, so that every value keeps its line and
// column for the messages. It never stops at the first problem: a value it
// cannot decode is reported, marked bad (so validation does not complain
// about it a second time) and left at its zero value.

// pos is a place in the file; 1-based, zero when unknown.
type pos struct{ line, col int }

func posOf(n *yaml.Node) pos { return pos{n.Line, n.Column} }

type decoder struct {
	file   string
	probs  []Problem
	keyPos map[string]pos  // present paths: where the key (or list item) is
	valPos map[string]pos  // present paths: where the value is
	bad    map[string]bool // present paths whose value was rejected
}

func newDecoder(file string) *decoder {
	return &decoder{
		file:   file,
		keyPos: map[string]pos{},
		valPos: map[string]pos{},
		bad:    map[string]bool{},
	}
}

func (d *decoder) addAt(p pos, field, format string, args ...any) {
	d.probs = append(d.probs, Problem{
		File:  d.file,
		Line:  p.line,
		Col:   p.col,
		Field: field,
		Msg:   fmt.Sprintf(format, args...),
	})
}

// fail reports a value that cannot be decoded and marks its path bad.
func (d *decoder) fail(n *yaml.Node, path, format string, args ...any) {
	d.addAt(posOf(n), path, format, args...)
	d.bad[path] = true
}

// present reports whether path was written in the file (good or bad).
func (d *decoder) present(path string) bool {
	_, ok := d.valPos[path]
	return ok
}

// has reports whether path was written in the file and decoded.
func (d *decoder) has(path string) bool { return d.present(path) && !d.isBad(path) }

// isBad reports whether path or one of its parents was rejected.
func (d *decoder) isBad(path string) bool {
	for p := path; ; p = parent(p) {
		if d.bad[p] {
			return true
		}
		if p == "" {
			return false
		}
	}
}

// where is the place to report a problem with path: its value when it was
// written, otherwise the key of the nearest parent that was.
func (d *decoder) where(path string) pos {
	if p, ok := d.valPos[path]; ok {
		return p
	}
	for p := parent(path); ; p = parent(p) {
		if q, ok := d.keyPos[p]; ok {
			return q
		}
		if p == "" {
			return pos{}
		}
	}
}

// errorf reports a problem found by validation, unless path (or a parent)
// was already reported as undecodable.
func (d *decoder) errorf(path, format string, args ...any) {
	if d.isBad(path) {
		return
	}
	d.addAt(d.where(path), path, format, args...)
}

// parent strips the last element of a dotted path:
// "tunnel.endpoints[1].name" → "tunnel.endpoints[1]" → "tunnel.endpoints" → "tunnel" → "".
func parent(path string) string {
	i := strings.LastIndexAny(path, ".[")
	if i < 0 {
		return ""
	}
	return path[:i]
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// yamlError reports an error from the YAML parser itself.
func (d *decoder) yamlError(err error) {
	msg := err.Error()
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		d.addAt(pos{line: line}, "", "not valid YAML: %s", m[2])
		return
	}
	d.addAt(pos{}, "", "not valid YAML: %s", strings.TrimPrefix(msg, "yaml: "))
}

// document parses data into the root mapping of its single document, or
// reports why it cannot and returns nil.
func (d *decoder) document(data []byte) (root *yaml.Node) {
	// yaml.v3 has panicked on hostile input before; a config file must
	// produce an error, never take the daemon down.
	defer func() {
		if r := recover(); r != nil {
			d.addAt(pos{}, "", "not valid YAML (the parser failed: %v)", r)
			root = nil
		}
	}()
	if len(bytes.TrimSpace(data)) == 0 {
		d.addAt(pos{}, "", "file is empty; a site config needs at least site, wan, lan and tunnel")
		return nil
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			d.addAt(pos{}, "", "file has no settings (only comments?); a site config needs at least site, wan, lan and tunnel")
		} else {
			d.yamlError(err)
		}
		return nil
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case errors.Is(err, io.EOF):
	case err != nil:
		d.yamlError(err)
		return nil
	default:
		d.addAt(posOf(&extra), "", "a second YAML document starts here; a config file holds exactly one (remove the '---' line and what follows)")
		return nil
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		d.addAt(posOf(&doc), "", "file has no settings; a site config needs at least site, wan, lan and tunnel")
		return nil
	}
	return doc.Content[0]
}

var (
	prefixType   = reflect.TypeFor[netip.Prefix]()
	addrType     = reflect.TypeFor[netip.Addr]()
	durationType = reflect.TypeFor[Duration]()
	backendType  = reflect.TypeFor[Backend]()
	boolPtrType  = reflect.TypeFor[*bool]()
)

// value decodes n into v, which is the field at path.
func (d *decoder) value(n *yaml.Node, v reflect.Value, path string) {
	d.valPos[path] = posOf(n)
	if n.Kind == yaml.AliasNode {
		d.fail(n, path, "YAML aliases (*name) are not supported; write the value out")
		return
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		d.fail(n, path, "no value; write one, or remove the key to use the default")
		return
	}
	t := v.Type()
	switch {
	case t == prefixType:
		s, ok := d.text(n, path, "an address with prefix length such as 10.99.1.2/32")
		if !ok {
			return
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			d.fail(n, path, "%q is not an address with prefix length (want for example 10.99.1.2/32)", s)
			return
		}
		v.Set(reflect.ValueOf(p))
	case t == addrType:
		s, ok := d.text(n, path, "an IP address such as 10.99.1.2")
		if !ok {
			return
		}
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			d.fail(n, path, "%q is not an IP address (want for example 10.99.1.2, without prefix length or zone)", s)
			return
		}
		v.Set(reflect.ValueOf(a))
	case t == durationType:
		if tag := n.ShortTag(); n.Kind == yaml.ScalarNode && (tag == "!!int" || tag == "!!float") {
			d.fail(n, path, "%s has no unit; write a duration such as 500ms, 3s or 1m", n.Value)
			return
		}
		s, ok := d.text(n, path, "a duration such as 500ms, 3s or 1m")
		if !ok {
			return
		}
		x, err := time.ParseDuration(s)
		switch {
		case err != nil:
			d.fail(n, path, "%q is not a duration (want for example 500ms, 3s or 1m)", s)
		case x < 0:
			d.fail(n, path, "%s is negative", s)
		default:
			v.Set(reflect.ValueOf(Duration(x)))
		}
	case t == backendType:
		s, ok := d.text(n, path, "one of auto, kernel, tun, netstack")
		if !ok {
			return
		}
		switch b := Backend(s); b {
		case BackendAuto, BackendKernel, BackendTUN, BackendNetstack:
			v.Set(reflect.ValueOf(b))
		default:
			d.fail(n, path, "%q is not a backend (want auto, kernel, tun or netstack)", s)
		}
	case t == boolPtrType:
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" {
			d.fail(n, path, "want true or false, got %s", describe(n))
			return
		}
		var b bool
		if err := n.Decode(&b); err != nil {
			d.fail(n, path, "want true or false, got %s", describe(n))
			return
		}
		v.Set(reflect.ValueOf(&b))
	case t.Kind() == reflect.String:
		s, ok := d.text(n, path, "text")
		if !ok {
			return
		}
		v.SetString(s)
	case t.Kind() == reflect.Int || t.Kind() == reflect.Int64:
		var x int64
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" || n.Decode(&x) != nil {
			d.fail(n, path, "want a whole number, got %s", describe(n))
			return
		}
		if v.OverflowInt(x) {
			d.fail(n, path, "%s is out of range", n.Value)
			return
		}
		v.SetInt(x)
	case t.Kind() == reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.fail(n, path, "want a list (lines starting with '- '), got %s", describe(n))
			return
		}
		s := reflect.MakeSlice(t, len(n.Content), len(n.Content))
		for i, item := range n.Content {
			ip := fmt.Sprintf("%s[%d]", path, i)
			d.keyPos[ip] = posOf(item)
			d.value(item, s.Index(i), ip)
		}
		v.Set(s)
	case t.Kind() == reflect.Struct:
		d.mapping(n, v, path)
	default:
		// Only reached if types.go gains a field of a kind not handled above.
		panic(fmt.Sprintf("config: field %s has unsupported type %s", path, t))
	}
}

// text returns the value of a scalar that can be read as text. Numbers are
// accepted (a unit may be called 1); true/false and null are not.
func (d *decoder) text(n *yaml.Node, path, want string) (string, bool) {
	if n.Kind != yaml.ScalarNode {
		d.fail(n, path, "want %s, got %s", want, describe(n))
		return "", false
	}
	switch n.ShortTag() {
	case "!!str", "!!int", "!!float", "!!timestamp":
	case "!!bool":
		d.fail(n, path, "want %s, got %s (quote it if you mean the word)", want, describe(n))
		return "", false
	default:
		d.fail(n, path, "want %s, got %s", want, describe(n))
		return "", false
	}
	if n.Value == "" {
		d.fail(n, path, "empty; write a value, or remove the key to use the default")
		return "", false
	}
	return n.Value, true
}

// mapping decodes a YAML mapping into the struct v.
func (d *decoder) mapping(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		want := "a mapping (keys indented under it)"
		if path == "" {
			want = "a mapping of settings (site: ..., wan: ..., ...)"
		}
		d.fail(n, path, "want %s, got %s", want, describe(n))
		return
	}
	t := v.Type()
	fields := map[string]int{}
	var names []string
	for i := range t.NumField() {
		if name := yamlName(t.Field(i)); name != "" {
			fields[name] = i
			names = append(names, name)
		}
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.addAt(posOf(k), path, "a key must be a plain word, got %s", describe(k))
			continue
		}
		kp := join(path, k.Value)
		if first, dup := seen[k.Value]; dup {
			d.addAt(posOf(k), kp, "duplicate key (first at line %d); keep one", first)
			d.bad[kp] = true
			continue
		}
		seen[k.Value] = k.Line
		idx, ok := fields[k.Value]
		if !ok {
			d.addAt(posOf(k), kp, "unknown key%s", suggest(k.Value, names))
			continue
		}
		d.keyPos[kp] = posOf(k)
		d.value(val, v.Field(idx), kp)
	}
}

// yamlName is the YAML key of a struct field, or "" when it has none.
func yamlName(f reflect.StructField) string {
	if !f.IsExported() {
		return ""
	}
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	if name == "-" {
		return ""
	}
	return name
}

// describe names the kind of a node for "want X, got Y" messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	case yaml.DocumentNode:
		return "a document"
	}
	v := n.Value
	if len(v) > 40 {
		v = v[:40] + "..."
	}
	switch n.ShortTag() {
	case "!!null":
		return "nothing"
	case "!!bool":
		return "true/false (" + v + ")"
	case "!!int", "!!float":
		return "a number (" + v + ")"
	case "!!str":
		return strconv.Quote(v)
	}
	return "a value tagged " + n.ShortTag()
}

// suggest returns ` (did you mean "x"?)` when one of names is close to key.
func suggest(key string, names []string) string {
	if key == "<<" {
		return " (YAML merge keys are not supported; write the values out)"
	}
	norm := func(s string) string {
		return strings.NewReplacer("_", "", "-", "", " ", "").Replace(strings.ToLower(s))
	}
	best, bestD := "", 3
	for _, n := range names {
		if norm(n) == norm(key) {
			best = n
			break
		}
		if dist := editDistance(key, n); dist < bestD {
			best, bestD = n, dist
		}
	}
	if best == "" {
		slices.Sort(names)
		return "; known keys here: " + strings.Join(names, ", ")
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// editDistance is the Levenshtein distance, capped for long inputs.
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 64
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
