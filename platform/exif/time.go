package exif

import (
	"strings"
	"time"
)

// timeTags holds the raw date strings; resolve picks and parses them.
type timeTags struct {
	original, offsetOriginal, subSecOriginal string // Exif IFD, tags 0x9003, 0x9011, 0x9291
	dateTime, offset, subSec                 string // IFD0 0x0132; Exif IFD 0x9010, 0x9290
}

// resolve returns DateTimeOriginal if usable, else DateTime, else zero.
// Each date is paired only with its own SubSecTime*/OffsetTime* tag, as the
// Exif 2.31 standard defines (and as exiftool's composite tags do).
func (ts timeTags) resolve(md *Metadata) time.Time {
	if t, ok := parseDateTime(md, "datetimeoriginal", ts.original, ts.subSecOriginal, ts.offsetOriginal); ok {
		return t
	}
	if t, ok := parseDateTime(md, "datetime", ts.dateTime, ts.subSec, ts.offset); ok {
		return t
	}
	return time.Time{}
}

var dateLayouts = []string{
	"2006:01:02 15:04:05", // the Exif form
	"2006-01-02 15:04:05",
	"2006:01:02T15:04:05",
	"2006-01-02T15:04:05",
}

// parseDateTime parses an Exif date "YYYY:MM:DD HH:MM:SS" plus optional
// sub-second digits and "+HH:MM" offset. Blank or all-zero dates, which
// cameras write when their clock is unset, count as absent.
func parseDateTime(md *Metadata, name, s, subSec, offset string) (time.Time, bool) {
	if isBlankDate(s) {
		return time.Time{}, false
	}
	if len(s) < 19 {
		md.warnf("%s %q is not a date; ignored", name, s)
		return time.Time{}, false
	}
	var t time.Time
	var err error
	for _, layout := range dateLayouts {
		if t, err = time.Parse(layout, s[:19]); err == nil {
			break
		}
	}
	if err != nil {
		md.warnf("%s %q is not a date; ignored", name, s)
		return time.Time{}, false
	}
	if subSec != "" {
		if ns, ok := parseSubSec(subSec); ok {
			t = t.Add(time.Duration(ns))
		} else {
			md.warnf("%s subseconds %q are not digits; ignored", name, subSec)
		}
	}
	if !isBlankDate(offset) {
		if secs, ok := parseOffset(offset); ok {
			// The wall clock is local time at that offset.
			loc := time.UTC
			if secs != 0 {
				loc = time.FixedZone("", secs)
			}
			t = time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), loc)
		} else {
			md.warnf("%s offset %q is not ±HH:MM; taken as utc", name, offset)
		}
	}
	return t, true
}

// isBlankDate reports whether s carries no date: empty, only spaces and
// separators, or only zeros ("0000:00:00 00:00:00").
func isBlankDate(s string) bool {
	return strings.Trim(s, " :-+0T") == ""
}

// parseSubSec turns the digits of a SubSecTime tag (a decimal fraction of a
// second) into nanoseconds. Digits beyond nanoseconds are dropped.
func parseSubSec(s string) (int, bool) {
	if s == "" {
		return 0, false
	}
	ns, digits := 0, 0
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, false
		}
		if digits < 9 {
			ns = ns*10 + int(c-'0')
			digits++
		}
	}
	for ; digits < 9; digits++ {
		ns *= 10
	}
	return ns, true
}

// parseOffset parses "+HH:MM" / "-HH:MM" into seconds east of UTC.
func parseOffset(s string) (int, bool) {
	if len(s) != 6 || (s[0] != '+' && s[0] != '-') || s[3] != ':' {
		return 0, false
	}
	hh, ok1 := twoDigits(s[1:3])
	mm, ok2 := twoDigits(s[4:6])
	if !ok1 || !ok2 || hh > 14 || mm > 59 {
		return 0, false
	}
	secs := (hh*60 + mm) * 60
	if s[0] == '-' {
		secs = -secs
	}
	return secs, true
}

func twoDigits(s string) (int, bool) {
	if len(s) != 2 || s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9' {
		return 0, false
	}
	return int(s[0]-'0')*10 + int(s[1]-'0'), true
}
