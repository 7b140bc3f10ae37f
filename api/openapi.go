package api

import (
	_ "embed"
	"net/http"
	"slices"

	"github.com/gin-gonic/gin"
)

//go:embed openapi.json
var openapiDoc []byte

// OpenAPI returns the OpenAPI 3.1 description of the API (a copy).
func OpenAPI() []byte { return slices.Clone(openapiDoc) }

// openapi: GET /openapi.json.
func (s *Server) openapi(c *gin.Context) {
	if !checkQuery(c) {
		return
	}
	c.Data(http.StatusOK, "application/json", openapiDoc)
}
