package filing

import "ombud/shared/trackcode"

// SetCodeSource replaces how s draws tracking codes, so that tests can force
// the collision that 40 random bits make too rare to meet.
func SetCodeSource(s *Service, f func(prefix string) (trackcode.Code, error)) { s.newCode = f }
