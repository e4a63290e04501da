// Package recurring finds complaints that say the same thing (ISO 10002
// 9.2): "card declined at the terminal" filed in nine branches is one
// problem, not nine. It needs no external service.
//
// Method: each complaint's text is normalised within its language (lower
// case, accents and punctuation removed, common words of the language
// dropped, a light suffix strip so "declined"/"declines" and
// "refusée"/"refusé" meet), and described by a weighted bag of its word
// stems and of the character trigrams of those stems (trigrams catch
// spelling variants and compounds). Complaints are grouped in filing
// order: each joins the group whose centroid it is most similar to
// (cosine), when that similarity reaches the threshold, or starts a new
// group. Groups never mix languages. The method and its threshold are
// measured on a labelled set (testdata/labelled.tsv; BENCHMARKS.md).
package recurring

import (
	"math"
	"sort"
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// DefaultThreshold is the similarity a complaint needs to join a group,
// chosen on the labelled set (BENCHMARKS.md).
const DefaultThreshold = 0.40

// Doc is one complaint to group.
type Doc struct {
	ID       string
	Language string
	Text     string
}

// Group is complaints that say the same thing.
type Group struct {
	Language string
	Members  []string // Doc ids, in the order given
	Terms    []string // the heaviest stems of the centroid: a label
	centroid vector
}

type vector map[string]float64

var stop = map[string]map[string]bool{
	"en": set(`a an the and or but if of to in on at by for with from into my me i we our you your it its this that these those
		is are was were be been being am have has had do does did not no so as than then there here when what which who whom
		why how all any some very too can could would should will just also again still only even after before over under up down
		out off about because while they them their he she his her him us get got one two three there's it's i'm don't didn't
		was wasn't isn't cannot can't per day today yesterday week time times
		hello hi dear please thank thanks complaint complain writing write happy unhappy disappointed disappointing disappointment
		unacceptable again second first explanation explain want need sort call back nobody anyone helped help morning afternoon
		very really never ever`),
	"fr": set(`le la les un une des du de d l et ou mais si à a au aux en dans sur par pour avec sans sous ce cet cette ces
		mon ma mes ton ta tes son sa ses notre nos votre vos leur leurs je j me m tu te t il elle on nous vous ils elles se s
		qui que qu quoi dont où est sont était été être ai as avons avez ont avait fait faire ne n pas plus très trop tout tous
		toute toutes y c ça cela ceci aussi encore déjà puis alors donc car comme quand depuis après avant fois jour aujourd hui
		hier semaine bonjour madame monsieur merci réclamation plainte écris écrire content contente déçu déçue déception
		inadmissible inacceptable encore deuxième première explication veux voudrais régler personne aidé aide matin jamais`),
}

func set(words string) map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(words) {
		m[fold(w)] = true
	}
	return m
}

// fold lowers case and removes accents.
func fold(s string) string {
	var b strings.Builder
	for _, r := range norm.NFD.String(strings.ToLower(s)) {
		if unicode.Is(unicode.Mn, r) {
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// synonyms maps words (accent-folded, before stemming) and two-word
// phrases to one keyword, per language: the few ways customers name the
// same thing at a branch. A small, reviewed lexicon, not a thesaurus.
var synonyms = map[string]map[string]string{
	"en": {
		"cash machine": "atm", "cashpoint": "atm", "cash point": "atm", "dispenser": "atm",
		"swallowed": "retain", "kept": "retain", "retained": "retain", "ate": "retain", "stuck": "retain", "eat": "retain",
		"rejected": "declin", "refused": "declin", "declined": "declin", "declines": "declin",
		"reader": "terminal", "machine": "terminal", "till": "terminal", "counter": "desk", "reception": "desk", "clerk": "staff",
		"employee": "staff", "advisor": "staff", "person": "staff", "impolite": "rude", "dismissive": "rude", "rudely": "rude", "unhelpful": "rude",
		"queue": "wait", "queued": "wait", "waited": "wait", "waiting": "wait", "served": "wait",
		"charge": "fee", "charged": "fee", "fees": "fee",
		"login": "signin", "log in": "signin", "sign in": "signin", "password": "signin", "application": "app",
		"shut": "closed", "locked": "closed", "door": "branch",
		"transfer": "transfer", "transferred": "transfer", "pending": "delay", "delayed": "delay", "arrived": "delay", "reached": "delay",
		"ramp": "wheelchair", "step free": "wheelchair", "steps": "wheelchair", "accessible": "wheelchair", "access": "wheelchair",
		"twice": "double", "debited": "double", "duplicate": "double",
	},
	"fr": {
		"distributeur": "dab", "automatique": "dab", "billets": "dab",
		"avale": "retenu", "garde": "retenu", "retenu": "retenu", "bloquee": "retenu", "confisque": "retenu",
		"refusee": "refus", "refuse": "refus", "rejete": "refus",
		"lecteur": "terminal", "guichet": "accueil", "conseiller": "personnel", "employe": "personnel", "agent": "personnel",
		"impoli": "impoli", "desagreable": "impoli", "meprisant": "impoli", "sechement": "impoli",
		"file": "attente", "queue": "attente", "attendu": "attente", "servi": "attente",
		"facture": "frais", "preleves": "frais", "prelevement": "frais",
		"connecter": "connexion", "appli": "application", "passe": "connexion",
		"fermee": "ferme", "porte": "agence", "horaire": "ouverture", "heures": "ouverture",
		"vire": "virement", "bloque": "retard", "attente depuis": "retard", "arrive": "retard",
	},
}

// Stems returns the normalised words of text in language lang.
func Stems(lang, text string) []string {
	words := strings.FieldsFunc(fold(text), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
	sw, syn := stop[lang], synonyms[lang]
	var out []string
	for i := 0; i < len(words); i++ {
		w := words[i]
		if i+1 < len(words) {
			if k, ok := syn[w+" "+words[i+1]]; ok {
				out = append(out, k)
				i++
				continue
			}
		}
		if k, ok := syn[w]; ok {
			out = append(out, k)
			continue
		}
		if len(w) < 2 || sw[w] {
			continue
		}
		out = append(out, stem(lang, w))
	}
	return out
}

var suffixes = map[string][]string{
	"en": {"ings", "ing", "edly", "ed", "es", "s", "ly"},
	"fr": {"ements", "ement", "ees", "ee", "es", "er", "ez", "e", "s", "x"},
}

func stem(lang string, w string) string {
	for _, s := range suffixes[lang] {
		if len(w)-len(s) >= 4 && strings.HasSuffix(w, s) {
			return w[:len(w)-len(s)]
		}
	}
	return w
}

func vectorOf(lang, text string) vector {
	v := vector{}
	for _, s := range Stems(lang, text) {
		v["w:"+s] += 1
		p := "^" + s + "$"
		for i := 0; i+3 <= len(p); i++ {
			v["t:"+p[i:i+3]] += 0.25
		}
	}
	return v
}

func (v vector) norm() float64 {
	var n float64
	for _, x := range v {
		n += x * x
	}
	return math.Sqrt(n)
}

func cosine(a, b vector, na, nb float64) float64 {
	if na == 0 || nb == 0 {
		return 0
	}
	if len(a) > len(b) {
		a, b = b, a
	}
	var dot float64
	for k, x := range a {
		dot += x * b[k]
	}
	return dot / (na * nb)
}

// Cluster groups docs, in the order given, at threshold (DefaultThreshold
// when 0). Docs with no words left after normalisation stay alone.
func Cluster(docs []Doc, threshold float64) []Group {
	if threshold <= 0 {
		threshold = DefaultThreshold
	}
	type g struct {
		Group
		n float64
	}
	var groups []*g
	for _, d := range docs {
		v := vectorOf(d.Language, d.Text)
		nv := v.norm()
		var best *g
		bestSim := 0.0
		for _, gr := range groups {
			if gr.Language != d.Language || nv == 0 {
				continue
			}
			if s := cosine(v, gr.centroid, nv, gr.n); s > bestSim {
				best, bestSim = gr, s
			}
		}
		if best == nil || bestSim < threshold {
			best = &g{Group: Group{Language: d.Language, centroid: vector{}}}
			groups = append(groups, best)
		}
		best.Members = append(best.Members, d.ID)
		// The centroid is the sum of unit vectors: every member counts
		// the same, however long its text.
		if nv > 0 {
			for k, x := range v {
				best.centroid[k] += x / nv
			}
			best.n = best.centroid.norm()
		}
	}
	out := make([]Group, len(groups))
	for i, gr := range groups {
		gr.Terms = topTerms(gr.centroid, 4)
		out[i] = gr.Group
	}
	return out
}

func topTerms(v vector, n int) []string {
	type kv struct {
		k string
		x float64
	}
	var all []kv
	for k, x := range v {
		if strings.HasPrefix(k, "w:") {
			all = append(all, kv{k[2:], x})
		}
	}
	sort.Slice(all, func(i, j int) bool {
		if all[i].x != all[j].x {
			return all[i].x > all[j].x
		}
		return all[i].k < all[j].k
	})
	var out []string
	for i := 0; i < len(all) && i < n; i++ {
		out = append(out, all[i].k)
	}
	return out
}

// Score is pairwise precision and recall of a grouping against labels:
// of the pairs put together, the share labelled together (precision); of
// the pairs labelled together, the share put together (recall).
type Score struct {
	Precision, Recall, F1 float64
	Groups                int
}

// Evaluate scores groups against labels (doc id to label).
func Evaluate(groups []Group, labels map[string]string) Score {
	pred := map[string]int{}
	for i, g := range groups {
		for _, id := range g.Members {
			pred[id] = i
		}
	}
	ids := make([]string, 0, len(labels))
	for id := range labels {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var tp, fp, fn float64
	for i := range ids {
		for j := i + 1; j < len(ids); j++ {
			same := labels[ids[i]] == labels[ids[j]]
			together := pred[ids[i]] == pred[ids[j]]
			switch {
			case same && together:
				tp++
			case together:
				fp++
			case same:
				fn++
			}
		}
	}
	s := Score{Groups: len(groups)}
	if tp+fp > 0 {
		s.Precision = tp / (tp + fp)
	}
	if tp+fn > 0 {
		s.Recall = tp / (tp + fn)
	}
	if s.Precision+s.Recall > 0 {
		s.F1 = 2 * s.Precision * s.Recall / (s.Precision + s.Recall)
	}
	return s
}
