package client_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log"
	"os"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/client"
)

func ExampleClient_CreateCredential() {
	ctx := context.Background()
	c := client.New("https://keyward.example.com", os.Getenv("KEYWARD_TOKEN"))

	days := int64(30)
	issued, err := c.CreateCredential(ctx, "acme-prod", keyward.CreateCredentialInput{
		Name:           "ci-deploy",
		ExpirationDays: &days,
		Meta:           map[string]string{"team": "infra"},
	})
	var kerr *keyward.Error
	switch {
	case errors.As(err, &kerr) && kerr.Code == keyward.EConflict:
		log.Fatal("a key of that name exists already")
	case err != nil:
		log.Fatal(err)
	}
	fmt.Println(issued.Key) // the secret, shown this once
}

func ExampleClient_UpdateCredential() {
	ctx := context.Background()
	c := client.New("https://keyward.example.com", os.Getenv("KEYWARD_TOKEN"))

	cred, err := c.Credential(ctx, "acme-prod", "ci-deploy")
	if err != nil {
		log.Fatal(err)
	}
	desc := "deploys from CI"
	// Version makes the update fail with keyward.EConflict if someone changed the key since.
	_, err = c.UpdateCredential(ctx, "acme-prod", "ci-deploy", keyward.UpdateCredentialInput{
		Description: &desc,
		Version:     cred.Version,
	})
	if keyward.ErrorCode(err) == keyward.EConflict {
		log.Fatal("changed concurrently; read it again")
	}
}

func ExampleClient_AllCredentials() {
	ctx := context.Background()
	c := client.New("https://keyward.example.com", os.Getenv("KEYWARD_TOKEN"))

	opts := client.ListCredentialsOptions{State: keyward.StateExpired}
	for cred, err := range c.AllCredentials(ctx, "acme-prod", opts) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(cred.ID, cred.Name)
	}
}

func ExampleClient_Verify() {
	ctx := context.Background()
	c := client.New("https://keyward.example.com", os.Getenv("KEYWARD_TOKEN"))

	v, err := c.Verify(ctx, os.Getenv("INCOMING_KEY"))
	if err != nil {
		log.Fatal(err) // the call failed; says nothing about the key
	}
	if !v.Valid {
		fmt.Println("rejected:", v.Code) // EXPIRED, REVOKED, ...
	}
}

func ExampleClient_VerifyPermissions() {
	ctx := context.Background()
	c := client.New("https://keyward.example.com", os.Getenv("KEYWARD_TOKEN"))

	// May the caller's key roll keys? FORBIDDEN says it is valid but lacks the permission.
	v, err := c.VerifyPermissions(ctx, os.Getenv("INCOMING_KEY"), keyward.PermKeysRoll)
	if err != nil {
		log.Fatal(err)
	}
	if v.Code == keyward.CodeForbidden {
		fmt.Println("valid key, but it may only:", v.Permissions)
	}
}

func ExampleClient_Login() {
	ctx := context.Background()
	// Login needs no token.
	anon := client.New("https://keyward.example.com", "")
	s, err := anon.Login(ctx, keyward.LoginInput{Name: "alice", Password: os.Getenv("KEYWARD_PASSWORD")})
	if keyward.ErrorCode(err) == keyward.EUnauthenticated {
		log.Fatal("wrong user name or password")
	} else if err != nil {
		log.Fatal(err)
	}
	// The session token acts as alice until it expires or Logout ends it.
	c := client.New("https://keyward.example.com", s.Key)
	defer c.Logout(ctx)
	if _, err := c.AddMember(ctx, "acme-prod", "bob", "viewer"); err != nil {
		log.Fatal(err)
	}
}

func ExampleClient_CreateCredential_certificate() {
	ctx := context.Background()
	c := client.New("https://keyward.example.com", os.Getenv("KEYWARD_TOKEN"))

	days := int64(30)
	issued, err := c.CreateCredential(ctx, "acme-prod", keyward.CreateCredentialInput{
		Type:               keyward.APICertificate,
		Name:               "ci-mtls",
		ExpirationDays:     &days,
		CertificateOptions: keyward.CertificateOptions{Password: os.Getenv("P12_PASSWORD")},
	})
	if err != nil {
		log.Fatal(err)
	}
	// Data is the PKCS#12 bundle, base64, shown this once.
	p12, err := base64.StdEncoding.DecodeString(issued.Data)
	if err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile("ci-mtls.p12", p12, 0o600); err != nil {
		log.Fatal(err)
	}
	fmt.Println("serial", issued.Serial)
}
