package httpapi

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/ca"
)

func (s *Server) updateProject(w http.ResponseWriter, r *http.Request) error {
	var in keyward.UpdateProjectInput
	if err := decode(r, &in, false); err != nil {
		return err
	}
	p, err := s.authority.UpdateProject(r.Context(), r.PathValue("project"), in)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, p)
}

func (s *Server) revealKey(w http.ResponseWriter, r *http.Request) error {
	k, err := s.authority.RevealKey(r.Context(), r.PathValue("project"), r.PathValue("ref"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, k)
}

// writePEM writes certificate material with its content type.
func writePEM(w http.ResponseWriter, contentType string, b []byte) error {
	w.Header().Set("Content-Type", contentType)
	_, err := w.Write(b)
	return err
}

func (s *Server) caPEM(w http.ResponseWriter, r *http.Request) error {
	b, err := s.authority.CAChainPEM()
	if err != nil {
		return err
	}
	return writePEM(w, "application/x-pem-file", b)
}

func (s *Server) clusterCAPEM(w http.ResponseWriter, r *http.Request) error {
	b, err := s.authority.ClusterClientCAPEM(r.Context(), r.PathValue("cluster"))
	if err != nil {
		return err
	}
	return writePEM(w, "application/x-pem-file", b)
}

// crl serves the CRL as DER (application/pkix-crl) or, when Accept asks for PEM, as PEM.
func (s *Server) crl(w http.ResponseWriter, r *http.Request) error {
	if chain, _ := strconv.ParseBool(r.URL.Query().Get("chain")); chain {
		// Every CRL of the chain, for relying parties that check them all: PEM only, since
		// DER holds one CRL per document.
		ders, err := s.authority.CRLChain(r.Context(), r.PathValue("cluster"))
		if err != nil {
			return err
		}
		w.Header().Set("Cache-Control", "no-cache")
		var b []byte
		for _, der := range ders {
			b = append(b, ca.CRLPEM(der)...)
		}
		return writePEM(w, "application/x-pem-file", b)
	}
	der, err := s.authority.CRL(r.Context(), r.PathValue("cluster"))
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-cache")
	accept := r.Header.Get("Accept")
	if strings.Contains(accept, "pem") || strings.Contains(accept, "text/plain") {
		return writePEM(w, "application/x-pem-file", ca.CRLPEM(der))
	}
	return writePEM(w, "application/pkix-crl", der)
}

func (s *Server) listClusters(w http.ResponseWriter, r *http.Request) error {
	cls, err := s.authority.Clusters(r.Context())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, list[*keyward.Cluster]{Items: cls})
}

func (s *Server) createCluster(w http.ResponseWriter, r *http.Request) error {
	var in keyward.ClusterInput
	if err := decode(r, &in, false); err != nil {
		return err
	}
	cl, err := s.authority.CreateCluster(r.Context(), in)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, cl)
}

func (s *Server) getCluster(w http.ResponseWriter, r *http.Request) error {
	cl, err := s.authority.Cluster(r.Context(), r.PathValue("cluster"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, cl)
}

func (s *Server) deleteCluster(w http.ResponseWriter, r *http.Request) error {
	if err := s.authority.DeleteCluster(r.Context(), r.PathValue("cluster")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
