"""The web chat's HTTP bodies: POST /chat {"session_id", "message"} -> {"response"}."""

from pydantic import BaseModel, ConfigDict, Field


class ChatRequest(BaseModel):
    """One message of a website visitor; session_id is the browser's own id of the conversation."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    session_id: str = Field(min_length=8, max_length=128, pattern=r"^[A-Za-z0-9_.:-]+$")
    message: str = Field(min_length=1, max_length=4000)


class ChatResponse(BaseModel):
    """The agent's answer."""

    response: str
