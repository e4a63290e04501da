package staffui_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gdamore/tcell/v2"

	"ombud/kiosk/staffui"
	"ombud/shared/event"
)

// englishOnScreen are words of the English screens that a translated
// screen must not show.
var englishOnScreen = []string{"Showing", "sign out", "open cases", "OVERDUE", "Summary", "Category", "What happened",
	"Timeline", "Next:", "Actions:", "Keys on", "Recorded:", "Sync:", "help",
	"Desired outcome", "Privacy notice", "Customer agrees", "Read it to the customer"}

func noEnglish(t *testing.T, where, screen string) {
	t.Helper()
	for _, w := range englishOnScreen {
		if strings.Contains(screen, w) {
			t.Errorf("%s: English %q on a French screen:\n%s", where, w, screen)
		}
	}
}

// TestStaffTerminalInFrench80x24 drives the staff terminal set to French
// (Config.UILanguage, the --lang flag) at 80x24, as a person would: the
// sign-in, the queue with its header, counts, titles and hint row, a case,
// an action's form and its result, and the help, read back in French with
// French dates.
func TestStaffTerminalInFrench80x24(t *testing.T) {
	e := newEnv(t)
	now := time.Now()
	late := e.file("billing", "La machine a débité deux fois mon café.", now.AddDate(0, 0, -30))
	e.act(late.Complaint.ID, event.Acknowledged, "sam", nil)
	e.act(late.Complaint.ID, event.Assessed, "sam", event.Assessment{Severity: event.SeverityHigh, Priority: 2})
	fresh := e.file("waiting_time", "Quarante minutes d'attente au guichet.", now)

	cfg := e.config()
	cfg.UILanguage = "fr"
	cfg.SyncStatus = nil
	cfg.SyncStatusIn = func(tr func(string, ...any) string) string {
		return tr("Sync: {state}", "state", tr("offline"))
	}
	k := start(t, cfg, 80, 24)
	s := k.waitText("Connexion du personnel", "Identifiant", "Code PIN", "Agence Main Street", "Se connecter",
		"F2 langue : English")
	noEnglish(t, "sign-in", s)
	t.Logf("sign-in:\n%s", s)

	k.typeText("sam")
	k.press(tcell.KeyTab)
	k.typeText(samPIN)
	k.press(tcell.KeyEnter)
	k.waitTop("queue")
	s = k.waitText("Bienvenue, Sam Super.", "Affichage : dossiers ouverts : 2", "1 EN RETARD", "échéance d'abord",
		"Sam Super (superviseur, hors ligne)", "Synchro : hors ligne",
		"Délai", "Catégorie", "File", "Résumé", "Facturation", "se déconnecter")
	noEnglish(t, "queue", s)
	lines := strings.Split(s, "\n")
	if len(lines) != 24 {
		t.Fatalf("%d rows", len(lines))
	}
	if !strings.Contains(lines[1], "reç") {
		t.Errorf("counts line %q", lines[1])
	}
	t.Logf("queue:\n%s", s)

	k.openCase(string(late.Code))
	month := map[time.Month]string{1: "jan", 2: "fév", 3: "mar", 4: "avr", 5: "mai", 6: "jun", 7: "jul", 8: "aoû", 9: "sep", 10: "oct", 11: "nov", 12: "déc"}
	filed := late.Complaint.FiledAt.UTC()
	s = k.waitText("Suite : ", "EN RETARD", "priorité 2", "gravité élevée", "Actions :", "Ce qui s'est passé",
		"Déposée le ", month[filed.Month()])
	noEnglish(t, "case", s)
	t.Logf("case:\n%s", s)

	k.typeText("?")
	s = k.waitText("Touches de l'écran dossier", "retour à la file", "Clore le dossier (pas maintenant")
	noEnglish(t, "help", s)
	k.press(tcell.KeyEscape)
	k.waitTop("case")

	k.typeText("b") // begin the investigation
	s = k.waitText("Commencer l'enquête · dossier", "Public : le client le voit", "Enregistrer", "Annuler")
	noEnglish(t, "form", s)
	k.sim.InjectKey(tcell.KeyCtrlS, 0, tcell.ModCtrl)
	s = k.waitSaid("Enregistré : commencer l'enquête sur le dossier")
	noEnglish(t, "after the action", s)

	k.press(tcell.KeyEscape)
	k.waitTop("queue")
	_ = fresh

	k.typeText("n") // a complaint for a walk-in customer
	s = k.waitText("Nouvelle réclamation pour un client au guichet", "Résultat souhaité", "Notice de confidentialité",
		"Le client accepte", "À lire au client")
	noEnglish(t, "filing form", s)
	if strings.Contains(s, "…") {
		t.Errorf("the filing form cuts a line:\n%s", s)
	}
}

// TestStaffLanguagePerPerson: the terminal starts in its language; F2 at
// sign-in switches the screens for the person signing in (keeping the id
// typed), and signing out goes back to the terminal's language.
func TestStaffLanguagePerPerson(t *testing.T) {
	e := newEnv(t)
	e.file("billing", "Charged twice.", time.Now())
	k := start(t, e.config(), 80, 24)
	k.waitText("Staff sign-in", "F2 language: Español")
	k.typeText("sam")
	k.press(tcell.KeyF2)
	s := k.waitText("Acceso del personal", "Pantallas en Español hasta que cierre la sesión.")
	noEnglish(t, "sign-in in Spanish", s)
	k.press(tcell.KeyTab) // the id typed before the switch is kept
	k.typeText(samPIN)
	k.press(tcell.KeyEnter)
	k.waitTop("queue")
	s = k.waitText("Mostrando casos abiertos: 1", "cerrar sesión")
	noEnglish(t, "queue in Spanish", s)
	k.typeText("q")
	k.waitTop("sign-in")
	// The person who signed out reads why in their language; the
	// screens are the terminal's again for the next person.
	k.waitText("Staff sign-in", "Sesión cerrada.", "F2 language: Español")
}

// TestTranslatorCatalogCannotSteerTheTerminal: a catalog dropped into the
// translators' directory is text, not markup: a tview style tag in it is
// shown as written and an escape sequence (here one that clears the
// screen) reaches the terminal as nothing.
func TestTranslatorCatalogCannotSteerTheTerminal(t *testing.T) {
	dir := t.TempDir()
	hostile := `{"_language_name": "Deutsch", "Staff sign-in": "[red]Anmeldung\u001b[2J", "Sign in": "[::b]Anmelden[-]", "Branch {branch}": "Filiale {branch} [\"link\"]"}`
	if err := os.WriteFile(filepath.Join(dir, "de.json"), []byte(hostile), 0o600); err != nil {
		t.Fatal(err)
	}
	words, err := staffui.LoadCatalogs(dir)
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t)
	cfg := e.config()
	cfg.Words, cfg.UILanguage = words, "de"
	k := start(t, cfg, 80, 24)
	s := k.waitText("[red]Anmeldung ═", "[::b]Anmelden[-]", `Filiale Main Street ["link"]`)
	if strings.ContainsRune(s, '\x1b') {
		t.Errorf("an escape reached the screen:\n%q", s)
	}
}
