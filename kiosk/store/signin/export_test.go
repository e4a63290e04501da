package signin

// DummyHash is the PIN hash SignIn checks an unknown id against.
func DummyHash(cost int) string { return dummyHash(cost) }
