package raster

import (
	"encoding/xml"
	"strings"
)

const rdfNS = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"

// xmpPrefix names a namespace by the prefix its vendor uses, so that lookups
// do not depend on how a file spelled the prefix. Pix4D's camera namespace
// comes with two URIs (MicaSense writes http://pix4d.com/1.0, Sequoia
// http://pix4d.com/camera/1.0/) and senseFly writes its own Camera URI.
func xmpPrefix(uri string) string {
	switch {
	case strings.Contains(uri, "pix4d.com"), strings.HasSuffix(uri, "/Camera/1.0/"):
		return "Camera"
	case strings.Contains(uri, "micasense.com/MicaSense"):
		return "MicaSense"
	case strings.Contains(uri, "micasense.com/DLS"):
		return "DLS"
	case strings.Contains(uri, "dji.com/drone-dji"):
		return "drone-dji"
	case uri == "http://ns.adobe.com/tiff/1.0/":
		return "tiff"
	case uri == "http://ns.adobe.com/exif/1.0/":
		return "exif"
	case uri == "http://ns.adobe.com/xap/1.0/":
		return "xmp"
	}
	return uri
}

// xmpProps flattens an XMP packet into "Prefix:Name" -> values. A property
// written as an attribute or as an element with text has one value; an
// rdf:Seq, rdf:Bag or rdf:Alt gives one value per rdf:li. When a property
// appears more than once (senseFly repeats BandName as a Seq and a Bag), the
// first occurrence wins.
type xmpProps map[string][]string

func (p xmpProps) first(key string) string {
	if v := p[key]; len(v) > 0 {
		return strings.TrimSpace(v[0])
	}
	return ""
}

// parseXMP never fails: a damaged packet yields whatever was read before the
// damage, because XMP only refines what the pixels already say.
func parseXMP(packet string) xmpProps {
	props := xmpProps{}
	if packet == "" {
		return props
	}
	dec := xml.NewDecoder(strings.NewReader(packet))
	dec.Strict = false
	type frame struct {
		key  string // property key, "" for rdf structure or containers
		skip bool   // a repeated property
		text strings.Builder
		li   bool // saw rdf:li children
		isLi bool
	}
	var stack []*frame
	owner := func() *frame { // nearest enclosing property
		for i := len(stack) - 1; i >= 0; i-- {
			if stack[i].key != "" {
				return stack[i]
			}
		}
		return nil
	}
	seen := map[string]bool{}
	for {
		tok, err := dec.Token()
		if err != nil {
			break
		}
		switch t := tok.(type) {
		case xml.StartElement:
			for _, a := range t.Attr {
				if a.Name.Space == "xmlns" || a.Name.Space == rdfNS || a.Name.Space == "" || a.Name.Space == "xml" {
					continue
				}
				k := xmpPrefix(a.Name.Space) + ":" + a.Name.Local
				if _, ok := props[k]; !ok {
					props[k] = []string{a.Value}
				}
			}
			f := &frame{}
			switch {
			case t.Name.Space == rdfNS && t.Name.Local == "li":
				f.isLi = true
				if o := owner(); o != nil {
					o.li = true
				}
			case t.Name.Space == rdfNS, t.Name.Space == "adobe:ns:meta/":
			default:
				f.key = xmpPrefix(t.Name.Space) + ":" + t.Name.Local
				f.skip = seen[f.key]
				seen[f.key] = true
			}
			stack = append(stack, f)
		case xml.CharData:
			if len(stack) > 0 {
				stack[len(stack)-1].text.Write(t)
			}
		case xml.EndElement:
			if len(stack) == 0 {
				break
			}
			f := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if f.isLi {
				// Its text belongs to the enclosing property.
				if o := owner(); o != nil && !o.skip {
					if s := strings.TrimSpace(f.text.String()); s != "" {
						props[o.key] = append(props[o.key], s)
					}
				}
				continue
			}
			if f.key == "" {
				continue
			}
			if !f.skip && !f.li {
				if s := strings.TrimSpace(f.text.String()); s != "" {
					props[f.key] = append(props[f.key], s)
				}
			}
		}
	}
	return props
}
