// Package promqlscan finds the vector selectors of a PromQL expression, so the tests of the
// shipped rules and dashboards can check every selector carries the scoping matchers. It is a
// scanner, not a parser: the real parser lives in the prometheus/prometheus module, far too
// heavy a dependency for this.
package promqlscan

import "strings"

// Selector is one vector selector of a PromQL expression.
type Selector struct {
	Name     string // the metric name; "" for a {__name__=...} selector
	Matchers string // the text between the braces
	Ranged   bool   // a range ([...]) follows
}

// promqlWords are the identifiers that are not metric names: functions, aggregations,
// keywords and modifiers.
var promqlWords = map[string]bool{}

func init() {
	for _, w := range strings.Fields(`abs absent absent_over_time acos acosh asin asinh atan atanh
		avg_over_time ceil changes clamp clamp_max clamp_min cos cosh count_over_time
		day_of_month day_of_week day_of_year days_in_month deg delta deriv exp floor
		histogram_count histogram_fraction histogram_quantile histogram_sum holt_winters hour
		idelta increase irate label_join label_replace last_over_time ln log10 log2
		max_over_time min_over_time minute month pi predict_linear present_over_time
		quantile_over_time rad rate resets round scalar sgn sin sinh sort sort_desc sqrt
		stddev_over_time stdvar_over_time sum_over_time tan tanh time timestamp vector year
		sum min max avg group stddev stdvar count count_values bottomk topk quantile
		and or unless atan2 bool offset by without on ignoring group_left group_right inf nan`) {
		promqlWords[w] = true
	}
}

// Selectors lists the vector selectors of a PromQL expression in order. It knows strings,
// comments, label lists after by/without/on/ignoring/group_*, ranges, subqueries and numbers,
// which is all the shipped rules and dashboards use.
func Selectors(expr string) []Selector {
	var out []Selector
	isIdentStart := func(c byte) bool { return c == '_' || c == ':' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
	isIdent := func(c byte) bool { return isIdentStart(c) || c >= '0' && c <= '9' }
	// skipString returns the index after the string literal starting at i.
	skipString := func(i int) int {
		q := expr[i]
		for i++; i < len(expr); i++ {
			if expr[i] == '\\' && q != '`' {
				i++
			} else if expr[i] == q {
				return i + 1
			}
		}
		return i
	}
	// closing returns the index after the bracket that closes the one at i.
	closing := func(i int, open, close byte) int {
		depth := 0
		for i < len(expr) {
			switch c := expr[i]; {
			case c == '"' || c == '\'' || c == '`':
				i = skipString(i)
				continue
			case c == open:
				depth++
			case c == close:
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return i
	}
	nextNonSpace := func(i int) int {
		for i < len(expr) && strings.ContainsRune(" \t\r\n", rune(expr[i])) {
			i++
		}
		return i
	}
	ranged := func(i int) bool {
		j := nextNonSpace(i)
		return j < len(expr) && expr[j] == '['
	}
	for i := 0; i < len(expr); {
		c := expr[i]
		switch {
		case c == '"' || c == '\'' || c == '`':
			i = skipString(i)
		case c == '#': // comment to the end of the line
			for i < len(expr) && expr[i] != '\n' {
				i++
			}
		case c == '[':
			i = closing(i, '[', ']')
		case c >= '0' && c <= '9' || c == '.':
			for i < len(expr) && (isIdent(expr[i]) || expr[i] == '.') {
				i++
			}
		case c == '{':
			end := closing(i, '{', '}')
			out = append(out, Selector{"", expr[i+1 : end-1], ranged(end)})
			i = end
		case isIdentStart(c):
			start := i
			for i < len(expr) && isIdent(expr[i]) {
				i++
			}
			word := expr[start:i]
			j := nextNonSpace(i)
			switch {
			case word == "by" || word == "without" || word == "on" || word == "ignoring" ||
				word == "group_left" || word == "group_right":
				if j < len(expr) && expr[j] == '(' {
					i = closing(j, '(', ')')
				}
			case promqlWords[word]:
			case j < len(expr) && expr[j] == '{':
				end := closing(j, '{', '}')
				out = append(out, Selector{word, expr[j+1 : end-1], ranged(end)})
				i = end
			default:
				out = append(out, Selector{word, "", ranged(i)})
			}
		default:
			i++
		}
	}
	return out
}
