package authority

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"strconv"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/auditchain"
)

// SettingAuditChainKey is the setting that holds the audit chain key, sealed under the master
// key with chainKeyLabel. Its plaintext is the 32-byte key and, big-endian in 8 bytes, the
// largest event id when the chain began: the events up to it predate the chain and are chained
// at start (ChainBacklog); an event without a place above it was written outside keyward.
// Sealing the boundary keeps someone without the master key from having keyward chain an
// event of theirs.
const SettingAuditChainKey = "audit.chain_key"

const chainKeyLabel = "keyward-audit-chain-key"

// InitAuditChain checks the master key against the store, loads the audit chain key (creating
// it, once across servers starting together, on the first start), gives it to the store and
// chains the events that predate the chain. Call it before anything writes: an event written
// before has no MAC, and "keyward audit verify" reports it. InitCA calls it; it does its work
// once per Authority.
func (a *Authority) InitAuditChain(ctx context.Context) error {
	if a.mk == nil {
		return errors.New("authority: InitAuditChain needs Options.MasterKey")
	}
	if a.chainReady.Load() {
		return nil
	}
	if err := a.checkMasterKey(ctx); err != nil {
		return err
	}
	key, upTo, err := a.chainKey(ctx)
	created := false
	if isCode(err, keyward.ENotFound) {
		key, upTo, created, err = a.createChainKey(ctx)
	}
	if err != nil {
		return err
	}
	if err := a.store.SetAuditKey(key); err != nil {
		return err
	}
	n, err := a.store.ChainBacklog(ctx, upTo)
	if err != nil {
		return err
	}
	if created {
		ev := &keyward.Event{Time: a.clock(), Actor: "system", Action: "audit.chain.start", Outcome: keyward.OutcomeSuccess,
			Detail: map[string]string{"earlier_events": strconv.Itoa(n)}}
		if err := a.store.AppendEvent(ctx, ev); err != nil {
			return err
		}
	}
	if n > 0 {
		a.logger.Info("chained the audit events written before the audit chain", "events", n)
	}
	a.chainReady.Store(true)
	return nil
}

// checkMasterKey checks the master key against the store's key check, storing one on the first
// start. Servers starting at once on an empty database race here: CreateSetting lets exactly
// one write the check, and the others adopt it.
func (a *Authority) checkMasterKey(ctx context.Context) error {
	check, err := a.store.Setting(ctx, SettingKeyCheck)
	if isCode(err, keyward.ENotFound) {
		err = a.store.CreateSetting(ctx, SettingKeyCheck, a.mk.Check(), nil)
		if isCode(err, keyward.EConflict) {
			check, err = a.store.Setting(ctx, SettingKeyCheck)
		}
	}
	if err != nil {
		return err
	}
	if check != nil {
		return a.mk.Verify(check)
	}
	return nil
}

// chainKey reads and opens the chain key setting. ENotFound when there is none.
func (a *Authority) chainKey(ctx context.Context) (key []byte, upTo int64, err error) {
	sealed, err := a.store.Setting(ctx, SettingAuditChainKey)
	if err != nil {
		return nil, 0, err
	}
	plain, err := a.mk.Open(sealed, chainKeyLabel)
	if err != nil {
		return nil, 0, err
	}
	if len(plain) != auditchain.KeySize+8 {
		return nil, 0, errors.New("authority: the audit chain key setting is malformed")
	}
	return plain[:auditchain.KeySize], int64(binary.BigEndian.Uint64(plain[auditchain.KeySize:])), nil
}

// createChainKey makes and stores a new chain key whose chain begins after the events stored
// now, unless another server stored one first: then that one is returned.
func (a *Authority) createChainKey(ctx context.Context) (key []byte, upTo int64, created bool, err error) {
	head, err := a.store.AuditChainHead(ctx)
	if err != nil {
		return nil, 0, false, err
	}
	plain := make([]byte, auditchain.KeySize+8)
	if _, err := rand.Read(plain[:auditchain.KeySize]); err != nil {
		return nil, 0, false, err
	}
	binary.BigEndian.PutUint64(plain[auditchain.KeySize:], uint64(head.LastEventID))
	sealed, err := a.mk.Seal(plain, chainKeyLabel)
	if err != nil {
		return nil, 0, false, err
	}
	err = a.store.CreateSetting(ctx, SettingAuditChainKey, sealed, nil)
	if isCode(err, keyward.EConflict) {
		key, upTo, err = a.chainKey(ctx)
		return key, upTo, false, err
	}
	if err != nil {
		return nil, 0, false, err
	}
	return plain[:auditchain.KeySize], head.LastEventID, true, nil
}

// VerifyAuditChain walks the whole audit chain and checks it under the chain key, which the
// master key opens; it changes nothing. anchor, when not nil, is a position (Seq and Hash)
// recorded earlier outside the database that the chain must still reach unchanged. The report
// names the first event that does not match; an error means the check could not run
// (ENotFound: no keyward server has started on the store since it keeps a chain).
func (a *Authority) VerifyAuditChain(ctx context.Context, anchor *auditchain.Anchor) (*auditchain.Report, error) {
	if a.mk == nil {
		return nil, errors.New("authority: VerifyAuditChain needs Options.MasterKey")
	}
	check, err := a.store.Setting(ctx, SettingKeyCheck)
	if err != nil {
		return nil, err
	}
	if err := a.mk.Verify(check); err != nil {
		return nil, err
	}
	key, upTo, err := a.chainKey(ctx)
	if isCode(err, keyward.ENotFound) {
		return nil, keyward.Errorf(keyward.ENotFound, "this database has no audit chain key yet: start keyward serve on it once")
	}
	if err != nil {
		return nil, err
	}
	v := auditchain.NewVerifier(key, upTo, anchor)
	errStop := errors.New("stop")
	head, err := a.store.WalkAuditChain(ctx, func(ce *keyward.ChainedEvent) error {
		if !v.Add(ce) {
			return errStop
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return nil, err
	}
	return v.Finish(head), nil
}
