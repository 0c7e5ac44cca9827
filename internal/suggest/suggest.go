// Package suggest guesses what a user meant by a name that is not known: a config field, an
// enum value, a kind, a host. The bootstrap loader, the mesh file source and the model all
// say "did you mean ...?" with it, so a typo gets the same help wherever it is made.
package suggest

import "strings"

// maxLength bounds the names Closest compares: the distance costs the product of the
// lengths, and a name this long is not a typo of a known one.
const maxLength = 128

// Closest returns the candidate that a mistyped name most likely meant, or "" when none is
// close enough to be a helpful guess. Case and underscores are ignored, so "statPrefix",
// "StatPrefix" and "stat_prefix" all lead to "stat_prefix".
func Closest(name string, candidates []string) string {
	if len(name) > maxLength {
		return "" // not a typo, and too costly to compare
	}
	want := normalize(name)
	best, bestDistance := "", -1
	for _, c := range candidates {
		d := Distance(want, normalize(c))
		if bestDistance < 0 || d < bestDistance {
			best, bestDistance = c, d
		}
	}
	// Allow about one edit per three characters, and at least two: enough for a typo or a
	// transposition, not so much that unrelated names get suggested.
	if bestDistance < 0 || bestDistance > max(2, len(want)/3) {
		return ""
	}
	return best
}

// SameName reports whether a and b are one name written in different styles: case and
// underscores aside ("stat_prefix", "statPrefix").
func SameName(a, b string) bool { return normalize(a) == normalize(b) }

func normalize(s string) string {
	return strings.ToLower(strings.ReplaceAll(s, "_", ""))
}

// Distance is the Levenshtein distance between a and b, counted in bytes (the names it
// compares are ASCII).
func Distance(a, b string) int {
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
