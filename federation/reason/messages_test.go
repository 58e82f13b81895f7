package reason

import (
	"go/ast"
	"go/parser"
	"go/token"
	"testing"
)

// TestEveryCodeHasText reads the catalogue's constants from reason.go, so a
// code added there without a Chinese and English title fails here.
func TestEveryCodeHasText(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "reason.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, s := range g.Specs {
			vs := s.(*ast.ValueSpec)
			if id, ok := vs.Type.(*ast.Ident); !ok || id.Name != "Code" {
				continue
			}
			for _, name := range vs.Names {
				n++
				lit := vs.Values[0].(*ast.BasicLit).Value
				c := Code(lit[1 : len(lit)-1])
				tx, ok := texts[c]
				if !ok || tx.ZH == "" || tx.EN == "" {
					t.Errorf("%s (%s): no Chinese and English title in texts", name.Name, c)
				}
			}
		}
	}
	if n < 30 || len(texts) != n {
		t.Errorf("catalogue has %d codes, texts has %d entries", n, len(texts))
	}
}

func TestTextOfUnknown(t *testing.T) {
	for _, tc := range []struct {
		c      Code
		zh, en string
	}{
		{SignatureInvalid, "签名无效（疑似伪造）", "Signature invalid (possible forgery)"},
		{"from_a_newer_node", "from_a_newer_node", "from_a_newer_node"},
	} {
		if got := TextOf(tc.c); got.ZH != tc.zh || got.EN != tc.en {
			t.Errorf("TextOf(%s) = %+v", tc.c, got)
		}
	}
}
