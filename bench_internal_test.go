package connect

// Decoding alone: the SDK's decoder (wire structs, then the public types)
// against plain encoding/json into the baseline's structs (internal/bench),
// on the bodies the benchmark server sends. See BENCHMARKS.md.

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/personaconnect/connect-go/internal/bench"
)

func loadBenchFixtures(b *testing.B) *bench.Fixtures {
	f, err := bench.LoadFixtures("testdata")
	if err != nil {
		b.Fatal(err)
	}
	return f
}

var (
	decodeSinkToken *ShareToken
	decodeSinkPage  *Page[ShareToken]
	decodeSinkBase  any
)

func BenchmarkDecodeToken(b *testing.B) {
	body := loadBenchFixtures(b).Token
	benchDecode(b, body, func() error {
		var doc document[shareTokenResource]
		if err := json.Unmarshal(body, &doc); err != nil {
			return err
		}
		decodeSinkToken = doc.Data.shareToken()
		return nil
	}, func() error {
		var doc bench.Doc
		err := json.Unmarshal(body, &doc)
		decodeSinkBase = &doc.Data
		return err
	})
}

// BenchmarkDecodeListPage decodes a page of 100 tokens.
func BenchmarkDecodeListPage(b *testing.B) {
	body := loadBenchFixtures(b).Page(0, 100, 1000)
	benchDecode(b, body, func() error {
		var doc listDocument[shareTokenResource]
		if err := json.Unmarshal(body, &doc); err != nil {
			return err
		}
		page := pageFrom(&doc, shareTokens(&doc))
		decodeSinkPage = &page
		return nil
	}, func() error {
		var doc bench.ListDoc
		err := json.Unmarshal(body, &doc)
		decodeSinkBase = &doc
		return err
	})
}

// BenchmarkDecodePeek decodes a token with its peeked source data: the
// baseline decodes the peekable attributes of the snapshot and of each
// related object in a second pass, as the SDK does (the SDK also keeps a
// copy of each snapshot's raw JSON in SourceData.Raw).
func BenchmarkDecodePeek(b *testing.B) {
	body := loadBenchFixtures(b).Peek
	var walk func(*bench.SourceData) error
	walk = func(s *bench.SourceData) error {
		if _, _, err := s.Attributes(); err != nil {
			return err
		}
		for _, r := range s.RelatedObjects {
			if err := walk(r); err != nil {
				return err
			}
		}
		return nil
	}
	benchDecode(b, body, func() error {
		var doc document[shareTokenResource]
		if err := json.Unmarshal(body, &doc); err != nil {
			return err
		}
		decodeSinkToken = doc.Data.shareToken()
		return nil
	}, func() error {
		var doc bench.Doc
		if err := json.Unmarshal(body, &doc); err != nil {
			return err
		}
		decodeSinkBase = &doc.Data
		return walk(doc.Data.Attributes.SourceData)
	})
}

func benchDecode(b *testing.B, body []byte, sdk, base func() error) {
	for _, impl := range []struct {
		name string
		fn   func() error
	}{{"impl=baseline", base}, {"impl=sdk", sdk}} {
		b.Run(impl.name, func(b *testing.B) {
			if want := os.Getenv("CONNECT_BENCH_IMPL"); want != "" && "impl="+want != impl.name {
				b.Skip("CONNECT_BENCH_IMPL=" + want)
			}
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if err := impl.fn(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
