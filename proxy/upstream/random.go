package upstream

// randomLB picks uniformly, or in proportion to the weights (Envoy's RANDOM).
type randomLB struct{}

func (randomLB) pick(s *hostSet, ctx PickContext) *Host { return randomPick(s, ctx) }

func (randomLB) hashes() bool { return false }
