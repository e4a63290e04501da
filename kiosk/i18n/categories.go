package i18n

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"ombud/shared/complaint"
	"ombud/shared/textsafe"
)

// Category is a topic a customer can file under. The id is what is stored
// and analysed (ISO 10002 9.2), so it must not change when a label is
// reworded; labels are only what customers read.
type Category struct {
	ID     string            `json:"id"`
	Labels map[string]string `json:"labels"` // language tag → label
}

// Label is the category's label in lang, else in English, else its id: a
// branch that adds a language before relabelling its categories still shows
// something readable.
func (c Category) Label(lang string) string {
	if l := c.Labels[lang]; l != "" {
		return l
	}
	if l := c.Labels[Fallback]; l != "" {
		return l
	}
	return c.ID
}

// DefaultCategories is the list offered when a branch configures none.
func DefaultCategories() []Category {
	return []Category{
		{ID: "service_quality", Labels: map[string]string{"en": "Quality of service", "fr": "Qualité du service"}},
		{ID: "staff_behaviour", Labels: map[string]string{"en": "Staff behaviour", "fr": "Comportement du personnel"}},
		{ID: "billing", Labels: map[string]string{"en": "Billing and charges", "fr": "Facturation et frais"}},
		{ID: "products", Labels: map[string]string{"en": "Products", "fr": "Produits"}},
		{ID: "waiting_time", Labels: map[string]string{"en": "Waiting time", "fr": "Temps d'attente"}},
		{ID: "accessibility", Labels: map[string]string{"en": "Accessibility", "fr": "Accessibilité"}},
		{ID: "privacy", Labels: map[string]string{"en": "Privacy and personal data", "fr": "Vie privée et données personnelles"}},
		{ID: "other", Labels: map[string]string{"en": "Something else", "fr": "Autre chose"}},
	}
}

// LoadCategories reads a JSON list such as
//
//	[{"id": "billing", "labels": {"en": "Billing and charges", "fr": "Facturation et frais"}}]
//
// and checks it: at least one category, ids unique, non-empty, plain
// one-line text within complaint.MaxCategory (ids are stored with every
// complaint).
func LoadCategories(path string) ([]Category, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var cats []Category
	if err := json.Unmarshal(data, &cats); err != nil {
		return nil, fmt.Errorf("%s: want a JSON list of {\"id\": ..., \"labels\": {\"en\": ...}}: %w", path, err)
	}
	if err := checkCategories(cats); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return cats, nil
}

func checkCategories(cats []Category) error {
	if len(cats) == 0 {
		return errors.New("no categories")
	}
	seen := map[string]bool{}
	for i, c := range cats {
		switch {
		case c.ID == "":
			return fmt.Errorf("category %d: empty id", i+1)
		case len([]rune(c.ID)) > complaint.MaxCategory:
			return fmt.Errorf("category %q: id longer than %d characters", c.ID, complaint.MaxCategory)
		case textsafe.Line(c.ID) != c.ID:
			return fmt.Errorf("category %d: id has control characters", i+1)
		case seen[c.ID]:
			return fmt.Errorf("category %q listed twice", c.ID)
		}
		seen[c.ID] = true
		for lang, l := range c.Labels {
			if textsafe.Line(l) != l {
				return fmt.Errorf("category %q: %s label has control characters", c.ID, lang)
			}
		}
	}
	return nil
}

// TopicKey is the catalog key of a category's label ("topic.billing"): a
// translator adding a language labels the categories in the same file.
func TopicKey(id string) string { return "topic." + id }

// Labelled returns cats with every label the catalogs give and the
// category lacks: a category file (or DefaultCategories) that names no
// label for a language added as a catalog gets the catalog's. Labels a
// category file gives win.
func (b *Bundle) Labelled(cats []Category) []Category {
	out := make([]Category, len(cats))
	for i, c := range cats {
		labels := make(map[string]string, len(c.Labels))
		for k, v := range c.Labels {
			labels[k] = v
		}
		for _, tag := range b.Tags() {
			if labels[tag] != "" {
				continue
			}
			if l, ok := b.Raw(tag, TopicKey(c.ID)); ok && l != "" {
				labels[tag] = l
			}
		}
		out[i] = Category{ID: c.ID, Labels: labels}
	}
	return out
}
