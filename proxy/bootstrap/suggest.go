package bootstrap

import "strings"

// maxGuessLength bounds the names closest compares: the distance costs the product of the
// lengths, and a name this long is not a typo of a field name.
const maxGuessLength = 128

// closest returns the candidate that a mistyped name most likely meant, or "" when none is
// close enough to be a helpful guess. Case and underscores are ignored, so "statPrefix",
// "StatPrefix" and "stat_prefix" all lead to "stat_prefix".
func closest(name string, candidates []string) string {
	if len(name) > maxGuessLength {
		return "" // not a typo, and too costly to compare
	}
	want := normalizeName(name)
	best, bestDistance := "", -1
	for _, c := range candidates {
		d := editDistance(want, normalizeName(c))
		if bestDistance < 0 || d < bestDistance {
			best, bestDistance = c, d
		}
	}
	// Allow about one edit per three characters, and at least two: enough for a typo or a
	// transposition, not so much that unrelated names get suggested.
	limit := max(2, len(want)/3)
	if bestDistance < 0 || bestDistance > limit {
		return ""
	}
	return best
}

func normalizeName(s string) string {
	return strings.ToLower(strings.ReplaceAll(s, "_", ""))
}

// editDistance is the Levenshtein distance between a and b, counted in bytes (field names
// are ASCII).
func editDistance(a, b string) int {
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
