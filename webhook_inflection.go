package connect

// Persona inflects the keys of a webhook's body by that webhook's setting:
// kebab-case ("created-at"), camelCase ("createdAt") or snake_case
// ("created_at"). The SDK's wire types are kebab-case, so a webhook body is
// brought to kebab-case before it is decoded, and Event.Payload is the same
// whatever the setting.
//
// The inflections come from one snake_case name: kebab replaces each "_"
// with "-", camel drops it and capitalizes the next word. Persona's names
// keep digits as words of their own ("address-street-1",
// "age-estimated-18-plus"), so the camel form "addressStreet1" is read back
// with a word break before the digits.

// kebabKeys returns doc with every object key in kebab-case, except the keys
// inside the value of a "fields" key, which Persona does not inflect: they
// are field names as the organization defined them ("name-first",
// "postal_code"). Strings, numbers and literals are copied byte for byte,
// and so are keys holding an escape sequence. doc must be valid JSON. It runs
// in one pass and returns doc itself when no key changes.
func kebabKeys(doc []byte) []byte {
	k := keyRewriter{doc: doc, verbatimDepth: -1}
	k.run()
	if k.out == nil {
		return doc
	}
	return append(k.out, doc[k.copied:]...)
}

type keyRewriter struct {
	doc    []byte
	out    []byte // nil until the first key that changes
	copied int    // doc[:copied] is in out

	expectKey     bool // the next string is an object key
	fieldsValue   bool // the key just read is "fields"
	verbatimDepth int  // keys are kept while len(containers) > verbatimDepth >= 0
}

func (k *keyRewriter) run() {
	doc := k.doc
	// The open '{' and '['; a local array keeps usual nesting off the heap.
	var buf [64]byte
	containers := buf[:0]
	for i := 0; i < len(doc); i++ {
		switch c := doc[i]; c {
		case '{', '[':
			if k.fieldsValue && k.verbatimDepth < 0 {
				k.verbatimDepth = len(containers)
			}
			k.fieldsValue = false
			containers = append(containers, c)
			k.expectKey = c == '{'
		case '}', ']':
			if n := len(containers); n > 0 {
				containers = containers[:n-1]
			}
			if len(containers) == k.verbatimDepth {
				k.verbatimDepth = -1
			}
			k.expectKey = false
		case ',':
			n := len(containers)
			k.expectKey = n > 0 && containers[n-1] == '{'
		case '"':
			end := stringEnd(doc, i)
			if k.expectKey {
				k.key(i, end)
			} else {
				k.fieldsValue = false
			}
			i = end
		case ':', ' ', '\t', '\n', '\r':
		default:
			k.fieldsValue = false // a number or literal
		}
	}
}

// key handles the object key doc[start:end+1], quotes included.
func (k *keyRewriter) key(start, end int) {
	k.expectKey = false
	if k.verbatimDepth >= 0 {
		return
	}
	name := k.doc[start+1 : end]
	k.fieldsValue = string(name) == "fields"
	if !needsKebab(name) {
		return
	}
	if k.out == nil {
		k.out = make([]byte, 0, len(k.doc)+len(k.doc)/8)
	}
	k.out = append(k.out, k.doc[k.copied:start+1]...)
	k.out = appendKebab(k.out, name)
	k.copied = end
}

// stringEnd returns the index of the quote closing the string that opens at
// doc[start], or len(doc)-1 when it is unterminated.
func stringEnd(doc []byte, start int) int {
	for i := start + 1; i < len(doc); i++ {
		switch doc[i] {
		case '\\':
			i++
		case '"':
			return i
		}
	}
	return len(doc) - 1
}

// needsKebab reports whether appendKebab would change name: it holds an
// upper-case letter, an underscore, or a letter followed by a digit. A name
// with an escape sequence is left alone.
func needsKebab(name []byte) bool {
	change := false
	for i, c := range name {
		switch {
		case c == '\\':
			return false
		case isASCIIUpper(c) || c == '_':
			change = true
		case isASCIIDigit(c) && i > 0 && isASCIILetter(name[i-1]):
			change = true
		}
	}
	return change
}

// appendKebab appends the kebab-case form of a camelCase, snake_case or
// kebab-case name.
func appendKebab(dst, name []byte) []byte {
	for i, c := range name {
		var prev byte
		if i > 0 {
			prev = name[i-1]
		}
		switch {
		case c == '_':
			dst = append(dst, '-')
		case isASCIIUpper(c):
			if i > 0 && prev != '_' && prev != '-' {
				dst = append(dst, '-')
			}
			dst = append(dst, c+('a'-'A'))
		case isASCIIDigit(c) && isASCIILetter(prev):
			dst = append(dst, '-', c)
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

func isASCIIUpper(c byte) bool  { return 'A' <= c && c <= 'Z' }
func isASCIIDigit(c byte) bool  { return '0' <= c && c <= '9' }
func isASCIILetter(c byte) bool { return isASCIIUpper(c) || ('a' <= c && c <= 'z') }
